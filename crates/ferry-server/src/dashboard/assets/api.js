// Ferry dashboard: the admin API of this listener, with the admin token of this tab.

import { TERMINAL } from './util.js';

const TOKEN_KEY = 'ferry.adminToken';

// Called when a read is refused for want of the token.
let readRefused = () => {};
export function onReadRefused(f) { readRefused = f; }

export function token() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { return ''; } }
export function setToken(t) {
  try { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* private mode */ }
}
export function headers() {
  const h = { Accept: 'application/json' };
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}
export async function api(path, options) {
  const r = await fetch(path, Object.assign({ headers: headers(), cache: 'no-store' }, options || {}));
  if (r.status === 401) {
    if (!options || !options.method || options.method === 'GET') readRefused();
    const e = new Error('the admin token was refused or is missing');
    e.status = 401;
    throw e;
  }
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { const body = await r.json(); if (body && body.error) msg = typeof body.error === 'string' ? body.error : (body.error.message || msg); } catch (_) { /* not JSON */ }
    const e = new Error(msg);
    e.status = r.status;
    throw e;
  }
  return r.status === 204 ? null : r.json();
}

// A task from the list, the detail or the event stream, in one shape.
export function summary(t) {
  const p = t.progress;
  const outcome = t.outcome;
  return {
    id: t.id,
    kind: t.kind,
    name: t.name,
    owner: t.owner,
    status: t.status,
    statusMessage: t.statusMessage ?? t.status_message ?? null,
    createdAt: t.createdAt ?? t.created_at ?? 0,
    updatedAt: t.updatedAt ?? t.updated_at ?? 0,
    progress: p && typeof p === 'object' ? p.progress : (p ?? null),
    total: t.total ?? (p && typeof p === 'object' ? p.total : null) ?? null,
    outcome: typeof outcome === 'string' ? outcome
      : outcome && outcome.type === 'error' ? 'error'
      : outcome && outcome.type === 'result' ? (outcome.is_error ? 'toolError' : 'result') : null,
  };
}

// Keep the newer of two versions of a task (an ended one never goes back).
export function newer(old, t) {
  if (!old) return true;
  if (TERMINAL.has(old.status) && !TERMINAL.has(t.status)) return false;
  return t.updatedAt >= old.updatedAt || (TERMINAL.has(t.status) && !TERMINAL.has(old.status));
}
