// Ferry dashboard: reads the admin API of this listener, follows /admin/api/events.
// Every piece of task data is put into the page with textContent (never as markup):
// task names, messages and arguments come from MCP callers.

import { STATUSES, TERMINAL, el, clear, duration, ago, clock, statusLabel, pill, shortId } from './util.js';
import { token, setToken, headers, api, summary, newer, onReadRefused } from './api.js';
import { HISTORY_MS, drawChart } from './chart.js';

const MAX_ROWS = 200;          // rows shown in the tasks table (newest first)
const MAX_FETCH_PAGES = 10;    // pages read to find the newest tasks
const PAGE_SIZE = 200;

const state = {
  tasks: new Map(),        // id -> summary
  seen: new Map(),         // id -> [{at, status, message}] status changes seen live
  rows: new Map(),         // id -> <tr>
  status: '',
  search: '',
  selected: null,          // id of the task in the drawer
  detail: null,            // last detail read for it
  stats: null,
  history: [],             // [{at, queued, running, completed, failedOrCancelled}]
  needToken: false,
  afterToken: null,        // what to do once a token is saved
};

const $ = (id) => document.getElementById(id);

function matches(t) {
  if (state.status && t.status !== state.status) return false;
  if (state.search) {
    const s = state.search.toLowerCase();
    return t.id.toLowerCase().includes(s) || String(t.name).toLowerCase().includes(s)
      || (t.statusMessage || '').toLowerCase().includes(s);
  }
  return true;
}

// A status change seen live (the first sight of a task is its creation, not a change).
function noteChange(old, t) {
  if (!old || old.status === t.status) return;
  let list = state.seen.get(t.id);
  if (!list) { list = []; state.seen.set(t.id, list); }
  if (list.length < 50) list.push({ at: t.updatedAt || Date.now(), status: t.status, message: t.statusMessage });
}

let loadSeq = 0;
const loading = new Set(); // per load in flight: the tasks events brought meanwhile
async function loadTasks() {
  const seq = ++loadSeq;
  const meanwhile = new Map();
  loading.add(meanwhile);
  try { await fillTasks(seq, meanwhile); } finally { loading.delete(meanwhile); }
}

async function fillTasks(seq, meanwhile) {
  const found = [];
  let cursor = null;
  try {
    for (let page = 0; page < MAX_FETCH_PAGES; page++) {
      const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (state.status) q.set('status', state.status);
      if (state.search) q.set('search', state.search);
      if (cursor) q.set('cursor', cursor);
      const body = await api('/admin/api/tasks?' + q.toString());
      for (const t of body.tasks || []) found.push(summary(t));
      cursor = body.nextCursor || body.next_cursor || null;
      if (!cursor) break;
    }
  } catch (e) {
    if (e.status !== 401) console.warn('ferry: listing tasks failed:', e.message);
    return;
  }
  if (seq !== loadSeq) return; // a newer load started meanwhile
  const next = new Map();
  found.sort((a, b) => b.createdAt - a.createdAt);
  for (const t of found.slice(0, MAX_ROWS)) {
    const old = state.tasks.get(t.id);
    next.set(t.id, newer(old, t) ? t : old);
  }
  // A listing read before a change that an event already brought must not undo it.
  for (const [id, t] of meanwhile) {
    if (matches(t) && newer(next.get(id), t)) next.set(id, t);
  }
  state.tasks = next;
  hideNeedToken();
  renderTasks();
}

function onTask(raw) {
  const t = summary(raw);
  const old = state.tasks.get(t.id);
  if (!newer(old, t)) return;
  noteChange(old, t);
  if (matches(t)) state.tasks.set(t.id, t); else state.tasks.delete(t.id);
  for (const meanwhile of loading) meanwhile.set(t.id, t);
  scheduleRender();
  if (state.selected === t.id) { renderDetailSummary(t); scheduleDetail(); }
}

// ---------- the event stream (fetch, so that it can carry the token) ----------
let backoff = 500;
let following = false;    // a stream is open or a reconnection is scheduled
async function follow() {
  following = true;
  let opened = false;
  try {
    const r = await fetch('/admin/api/events', { headers: headers(), cache: 'no-store' });
    if (r.status === 401) {
      // Not retried: a token entered later starts it again.
      following = false;
      setConn('down', 'Admin token needed');
      showNeedToken();
      return;
    }
    if (!r.ok || !r.body) throw new Error('event stream: ' + r.status);
    opened = true;
    backoff = 500;
    setConn('live', 'Live');
    loadTasks(); // whatever changed while we were away
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n?/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        dispatch(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  } catch (e) {
    if (!opened) console.warn('ferry:', e.message);
  }
  setConn('wait', 'Reconnecting…');
  setTimeout(follow, backoff);
  backoff = Math.min(backoff * 2, 10000);
}

function dispatch(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return;
  let body;
  try { body = JSON.parse(data.join('\n')); } catch (_) { return; }
  if (event === 'task') onTask(body);
  else if (event === 'stats') onStats(body);
  else if (event === 'stats-error') setConn('live', 'Live · engine stats unavailable (' + body.error + ')');
  else if (event === 'resync') loadTasks();
}

function setConn(kind, text) {
  $('conn').className = 'conn conn-' + kind;
  $('conn-text').textContent = text;
}

// ---------- stats, charts ----------
function onStats(s) {
  setConn('live', 'Live');
  state.stats = s;
  const ended = s.endedLastMinute || {};
  const point = {
    at: s.atMs || Date.now(),
    queued: s.queued || 0,
    running: s.running || 0,
    completed: ended.completed || 0,
    failed: (ended.failed || 0) + (ended.cancelled || 0),
  };
  const h = state.history;
  if (!h.length || point.at > h[h.length - 1].at) h.push(point);
  while (h.length && h[0].at < point.at - HISTORY_MS) h.shift();
  renderStats();
}

function renderStats() {
  const s = state.stats;
  if (!s) return;
  const byStatus = s.tasksByStatus || {};
  const ended = s.endedLastMinute || {};
  const workers = s.workers || [];
  const alive = workers.filter((w) => w.alive);
  $('m-queued').textContent = s.queued;
  $('m-oldest').textContent = s.oldestQueuedAgeMs != null ? 'oldest waits ' + duration(s.oldestQueuedAgeMs) : 'nothing waiting';
  $('m-running').textContent = s.running;
  $('m-delayed').textContent = s.delayed ? s.delayed + ' delayed (retries)' : 'none delayed';
  $('m-completed').textContent = ended.completed || 0;
  $('m-failed').textContent = (ended.failed || 0) + ' failed · ' + (ended.cancelled || 0) + ' cancelled';
  $('m-live').textContent = (byStatus.working || 0) + (byStatus.input_required || 0);
  const stored = Object.values(byStatus).reduce((a, b) => a + b, 0);
  $('m-stored').textContent = (byStatus.input_required || 0) + ' awaiting input · ' + stored + ' stored';
  $('m-workers').textContent = alive.length;
  const cap = alive.reduce((a, w) => a + (w.concurrency || 0), 0);
  const busy = alive.reduce((a, w) => a + (w.running ? w.running.length : 0), 0);
  $('m-capacity').textContent = workers.length - alive.length
    ? busy + ' / ' + cap + ' slots busy · ' + (workers.length - alive.length) + ' lapsed'
    : busy + ' / ' + cap + ' slots busy';
  renderChips(byStatus);
  renderWorkers(workers);
  drawChart($('chart-depth'), state.history, [
    { key: 'queued', color: 'var(--accent)', area: true },
    { key: 'running', color: '#16a3a3' },
  ]);
  drawChart($('chart-throughput'), state.history, [
    { key: 'completed', color: 'var(--completed)', area: true },
    { key: 'failed', color: 'var(--failed)' },
  ]);
}

// ---------- workers ----------
function renderWorkers(workers) {
  const body = $('worker-rows');
  clear(body);
  $('workers-empty').hidden = workers.length > 0;
  $('worker-count').textContent = workers.length ? String(workers.length) : '';
  const sorted = workers.slice().sort((a, b) => (b.alive - a.alive) || a.name.localeCompare(b.name));
  for (const w of sorted) {
    const tr = el('tr');
    tr.appendChild(el('td', 'tool', w.name));
    const st = el('td');
    st.appendChild(el('span', 'pill ' + (w.alive ? 's-alive' : 's-lapsed'), w.alive ? 'Alive' : 'Lapsed'));
    tr.appendChild(st);
    tr.appendChild(el('td', 'muted', (w.host || '?') + ' · pid ' + w.pid));
    const running = w.running ? w.running.length : 0;
    tr.appendChild(progressCell(running, w.concurrency || 0, running + ' / ' + (w.concurrency || 0), w.alive ? '' : 'bad'));
    tr.appendChild(el('td', 'num', ago(w.lastSeenMs)));
    tr.appendChild(el('td', 'num', w.startedAtMs ? duration(Date.now() - w.startedAtMs) : '–'));
    body.appendChild(tr);
  }
}

// ---------- tasks ----------
function renderChips(byStatus) {
  const box = $('filters');
  if (!box.childNodes.length) {
    for (const [key, label] of STATUSES) {
      const b = el('button', 'chip', label);
      b.type = 'button';
      b.dataset.status = key;
      b.setAttribute('aria-pressed', String(key === state.status));
      b.appendChild(el('span', 'n', ''));
      b.addEventListener('click', () => {
        state.status = key;
        for (const c of box.children) c.setAttribute('aria-pressed', String(c.dataset.status === key));
        state.tasks.clear();
        renderTasks();
        loadTasks();
      });
      box.appendChild(b);
    }
  }
  if (!byStatus) return;
  const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
  for (const c of box.children) {
    const n = c.dataset.status ? byStatus[c.dataset.status] || 0 : total;
    c.lastChild.textContent = String(n);
  }
}

function progressCell(value, total, label, cls) {
  const td = el('td');
  const wrap = el('div', 'progress-cell');
  const bar = el('div', 'progress');
  const fill = el('div', 'progress-bar' + (cls ? ' ' + cls : ''));
  if (total > 0) fill.style.width = Math.min(100, (value / total) * 100).toFixed(1) + '%';
  bar.appendChild(fill);
  wrap.appendChild(bar);
  wrap.appendChild(el('span', 'pct', label));
  td.appendChild(wrap);
  return td;
}

function taskProgress(t) {
  if (t.status === 'completed') return { pct: 100, label: '100%', cls: t.outcome === 'toolError' ? 'err' : 'done' };
  if (t.total && t.total > 0 && t.progress != null) {
    const pct = Math.max(0, Math.min(100, (t.progress / t.total) * 100));
    return { pct, label: Math.round(pct) + '%', cls: TERMINAL.has(t.status) ? 'bad' : '' };
  }
  if (TERMINAL.has(t.status)) return { pct: 0, label: '', cls: 'bad' };
  if (t.progress != null) return { pct: null, label: String(t.progress), cls: 'indeterminate' };
  return { pct: null, label: '', cls: t.status === 'working' ? 'indeterminate' : '' };
}

function runTime(t) {
  const end = TERMINAL.has(t.status) ? t.updatedAt : Date.now();
  return duration(end - t.createdAt);
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; renderTasks(); });
}

function renderTasks() {
  const list = [...state.tasks.values()].filter(matches).sort((a, b) => b.createdAt - a.createdAt);
  for (const t of list.slice(MAX_ROWS)) state.tasks.delete(t.id);
  const shown = list.slice(0, MAX_ROWS);
  const body = $('task-rows');
  const keep = new Set(shown.map((t) => t.id));
  for (const [id, tr] of state.rows) if (!keep.has(id)) { tr.remove(); state.rows.delete(id); }
  let prev = null;
  for (const t of shown) {
    let tr = state.rows.get(t.id);
    if (!tr) {
      tr = buildRow(t.id);
      state.rows.set(t.id, tr);
    }
    fillRow(tr, t);
    const want = prev ? prev.nextSibling : body.firstChild;
    if (want !== tr) body.insertBefore(tr, want);
    prev = tr;
  }
  $('tasks-empty').hidden = shown.length > 0;
  $('tasks-empty').textContent = state.status || state.search ? 'No task matches.' : 'No tasks yet.';
  $('task-count').textContent = shown.length ? String(shown.length) : '';
}

function buildRow(id) {
  const tr = el('tr');
  tr.dataset.id = id;
  for (let i = 0; i < 8; i++) tr.appendChild(i === 3 ? progressCell(0, 0, '', '') : el('td'));
  tr.children[1].className = 'tool';
  tr.children[2].className = 'mono muted';
  tr.children[4].className = 'msg';
  tr.children[5].className = 'owner';
  tr.children[6].className = 'num runtime';
  tr.children[7].className = 'num muted';
  tr.addEventListener('click', () => openDetail(id));
  return tr;
}

function fillRow(tr, t) {
  const c = tr.children;
  tr.dataset.status = t.status;
  tr.classList.toggle('selected', state.selected === t.id);
  const look = t.status + '/' + (t.outcome || '');
  if (c[0].dataset.look !== look) {
    clear(c[0]);
    c[0].appendChild(pill(t.status, t.outcome));
    c[0].dataset.look = look;
  }
  c[1].textContent = t.name;
  c[2].textContent = shortId(t.id);
  c[2].title = t.id;
  const p = taskProgress(t);
  const fill = c[3].querySelector('.progress-bar');
  fill.className = 'progress-bar' + (p.cls ? ' ' + p.cls : '');
  fill.style.width = (p.pct ?? 0).toFixed(1) + '%';
  c[3].querySelector('.pct').textContent = p.label;
  c[4].textContent = t.statusMessage || '';
  c[4].title = t.statusMessage || '';
  c[5].textContent = t.owner;
  c[5].title = t.owner;
  c[6].textContent = runTime(t);
  c[7].textContent = clock(t.createdAt);
}

// ---------- detail drawer ----------
async function openDetail(id) {
  state.selected = id;
  state.detail = null;
  $('detail').hidden = false;
  document.body.classList.add('drawer-open');
  $('d-action-note').textContent = '';
  for (const [rid, tr] of state.rows) tr.classList.toggle('selected', rid === id);
  const known = state.tasks.get(id);
  if (known) renderDetailSummary(known);
  await loadDetail();
}

function closeDetail() {
  state.selected = null;
  state.detail = null;
  $('detail').hidden = true;
  document.body.classList.remove('drawer-open');
  for (const tr of state.rows.values()) tr.classList.remove('selected');
}

let detailTimer = null;
function scheduleDetail() {
  if (detailTimer) return;
  detailTimer = setTimeout(() => { detailTimer = null; loadDetail(); }, 400);
}

async function loadDetail() {
  const id = state.selected;
  if (!id) return;
  let d;
  try {
    d = await api('/admin/api/tasks/' + encodeURIComponent(id));
  } catch (e) {
    if (state.selected === id) $('d-action-note').textContent = e.status === 404 ? 'This task is gone (expired).' : e.message;
    return;
  }
  if (state.selected !== id || !d) return;
  state.detail = d;
  const t = summary(d.record || d);
  const old = state.tasks.get(id);
  if (newer(old, t)) {
    noteChange(old, t);
    if (old || matches(t)) { state.tasks.set(id, t); scheduleRender(); }
  }
  renderDetailSummary(newer(old, t) ? t : old);
}

function fact(dl, name, value) {
  if (value === null || value === undefined || value === '') return;
  dl.appendChild(el('dt', null, name));
  dl.appendChild(el('dd', null, value));
}

function renderDetailSummary(t) {
  if (!t) return;
  const d = state.detail && (state.detail.record || state.detail).id === t.id ? state.detail : null;
  $('d-name').textContent = t.name;
  $('d-id').textContent = t.id;
  const st = $('d-status');
  clear(st);
  st.appendChild(pill(t.status, t.outcome));
  $('d-message').textContent = t.statusMessage || '';
  const p = taskProgress(t);
  const bar = $('d-progress');
  bar.className = 'progress-bar' + (p.cls ? ' ' + p.cls : '');
  bar.style.width = (p.pct ?? 0) + '%';

  const dl = $('d-facts');
  clear(dl);
  fact(dl, 'Kind', t.kind);
  fact(dl, 'Owner', t.owner);
  fact(dl, 'Progress', t.progress != null ? (t.total ? t.progress + ' of ' + t.total : String(t.progress)) : null);
  fact(dl, 'Run time', runTime(t));
  fact(dl, 'Outcome', t.outcome === 'toolError' ? 'tool error result' : t.outcome);
  if (d) {
    fact(dl, 'Attempt', d.attempt);
    fact(dl, 'Worker', d.worker);
    if (d.notBeforeMs) fact(dl, 'Not before', clock(d.notBeforeMs));
  }
  const ttl = d && d.record ? (d.record.ttlMs ?? d.record.ttl_ms) : null;
  if (ttl != null) fact(dl, 'Kept for', duration(ttl) + ' after it ends');

  const tl = $('d-timeline');
  clear(tl);
  const entry = (cls, what, at, note) => {
    const li = el('li', cls);
    li.appendChild(el('span', 't-what', what));
    li.appendChild(el('span', 't-when', clock(at)));
    if (note) li.appendChild(el('div', 't-note', note));
    tl.appendChild(li);
  };
  entry('', 'Created', t.createdAt, t.kind ? t.kind + ' ' + t.name : null);
  if (d && d.claimedAtMs) entry('', 'Claimed' + (d.worker ? ' by ' + d.worker : ''), d.claimedAtMs, d.attempt > 1 ? 'attempt ' + d.attempt : null);
  for (const c of state.seen.get(t.id) || []) {
    if (TERMINAL.has(c.status)) continue;
    entry('', statusLabel(c.status), c.at, c.message);
  }
  if (TERMINAL.has(t.status)) entry('t-' + t.status, statusLabel(t.status), t.updatedAt, t.statusMessage);

  const args = $('d-args');
  if (d && d.arguments !== undefined) args.textContent = JSON.stringify(d.arguments, null, 2);
  else args.textContent = TERMINAL.has(t.status) ? '(not kept once a task has ended)' : d ? '(none)' : '…';

  const cancel = $('d-cancel');
  cancel.hidden = TERMINAL.has(t.status);
  cancel.disabled = false;
}

async function cancelSelected() {
  const id = state.selected;
  if (!id) return;
  if (!token()) { askToken(cancelSelected); return; }
  const button = $('d-cancel');
  const note = $('d-action-note');
  button.disabled = true;
  note.textContent = 'Cancelling…';
  try {
    const body = await api('/admin/api/tasks/' + encodeURIComponent(id) + '/cancel', { method: 'POST' });
    note.textContent = 'Cancelled.';
    const rec = body && (body.record || (body.id ? body : null));
    if (rec) onTask(rec);
    loadDetail();
  } catch (e) {
    button.disabled = false;
    if (e.status === 401 || e.status === 403) {
      setToken('');
      renderTokenButton();
      note.textContent = 'The admin token was refused.';
      askToken(cancelSelected);
    } else if (e.status === 409) {
      note.textContent = 'It had already ended.';
      loadDetail();
    } else {
      note.textContent = 'Could not cancel: ' + e.message;
    }
  }
}

// ---------- token ----------
function askToken(then) {
  state.afterToken = then || null;
  $('token-input').value = '';
  $('token-forget').hidden = !token();
  $('token-dialog').showModal();
  $('token-input').focus();
}
function renderTokenButton() {
  $('token-button').textContent = token() ? 'Admin token ✓' : 'Admin token';
}
function showNeedToken() {
  if (state.needToken) return;
  state.needToken = true;
  $('banner-text').textContent = token()
    ? 'The admin token was refused: this deployment needs it to read.'
    : 'This deployment needs the admin token to read.';
  $('banner').hidden = false;
}
function hideNeedToken() {
  state.needToken = false;
  $('banner').hidden = true;
}

// ---------- wiring ----------
function start() {
  // A token handed over in the address (#token=...) is kept in this tab and taken out of the address.
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    setToken(decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  onReadRefused(showNeedToken);
  renderTokenButton();
  renderChips(null);
  drawChart($('chart-depth'), state.history, []);
  drawChart($('chart-throughput'), state.history, []);

  let searchTimer = null;
  $('search').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.search = e.target.value.trim();
      renderTasks();
      loadTasks();
    }, 250);
  });
  $('d-close').addEventListener('click', closeDetail);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('token-dialog').open) closeDetail(); });
  $('d-cancel').addEventListener('click', cancelSelected);
  $('token-button').addEventListener('click', () => askToken(null));
  $('banner-action').addEventListener('click', () => askToken(null));
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token-input').value.trim();
    if (!t) return;
    setToken(t);
    renderTokenButton();
    $('token-dialog').close();
    // Reads were refused: try again with the token.
    if (state.needToken) {
      hideNeedToken();
      loadTasks();
      if (!following) follow();
    }
    const then = state.afterToken;
    state.afterToken = null;
    if (then) then();
  });
  $('token-dismiss').addEventListener('click', () => { state.afterToken = null; $('token-dialog').close(); });
  $('token-forget').addEventListener('click', () => {
    setToken('');
    renderTokenButton();
    state.afterToken = null;
    $('token-dialog').close();
  });

  // Run times and heartbeat ages move on their own.
  setInterval(() => {
    for (const [id, tr] of state.rows) {
      const t = state.tasks.get(id);
      if (t && !TERMINAL.has(t.status)) tr.querySelector('.runtime').textContent = runTime(t);
    }
    if (state.stats) renderWorkers(state.stats.workers || []);
  }, 1000);

  loadTasks();
  follow();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
