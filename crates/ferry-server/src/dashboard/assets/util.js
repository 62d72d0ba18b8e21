// Ferry dashboard: DOM helpers (text only) and formatting.
// Every piece of task data is put into the page with textContent (never as markup):
// task names, messages and arguments come from MCP callers.

export const STATUSES = [
  ['', 'All'], ['working', 'Working'], ['input_required', 'Input required'],
  ['completed', 'Completed'], ['failed', 'Failed'], ['cancelled', 'Cancelled'],
];
export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

// ---------- DOM helpers (text only) ----------
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
export function svg(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}
export function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

// ---------- formatting ----------
export function duration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return '–';
  ms = Math.max(0, ms);
  if (ms < 1000) return ms + ' ms';
  const s = ms / 1000;
  if (s < 60) return (s < 10 ? s.toFixed(1) : Math.floor(s)) + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + 'm ' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
  const h = Math.floor(m / 60);
  if (h < 48) return h + 'h ' + String(m % 60).padStart(2, '0') + 'm';
  return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
}
export function ago(ms) { return ms === null || ms === undefined ? '–' : duration(Date.now() - ms) + ' ago'; }
export function clock(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}
export function statusLabel(s) {
  const found = STATUSES.find(([k]) => k === s);
  return found ? found[1] : String(s);
}
// A tool's error result completes its task (MCP), but for an operator it is a failure.
export function pill(status, outcome) {
  if (status === 'completed' && outcome === 'toolError') return el('span', 'pill s-failed', 'Tool error');
  return el('span', 'pill s-' + status, statusLabel(status));
}
export function shortId(id) { return id.length > 10 ? id.slice(0, 10) + '…' : id; }
