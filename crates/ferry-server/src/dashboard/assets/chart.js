// Ferry dashboard: small inline SVG charts of the stats history.

import { el, svg, clear } from './util.js';

/** How much history the charts show at most. */
export const HISTORY_MS = 5 * 60 * 1000;

const W = 600, H = 120;
// Draw `series` ({key, color, area}) of the history `h` ([{at, ...}]) into `box`.
export function drawChart(box, h, series) {
  clear(box);
  const now = h.length ? h[h.length - 1].at : Date.now();
  // The last minute at first, growing with the history to five minutes.
  const span = Math.min(HISTORY_MS, Math.max(60 * 1000, h.length ? now - h[0].at : 0));
  const start = now - span;
  let max = 0;
  for (const p of h) for (const s of series) max = Math.max(max, p[s.key]);
  max = niceMax(max);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img' });
  for (let i = 0; i <= 4; i++) {
    const y = (H * i) / 4;
    root.appendChild(svg('line', { x1: 0, x2: W, y1: y, y2: y, class: 'grid-line' }));
  }
  const x = (at) => ((at - start) / span) * W;
  const y = (v) => H - (v / max) * H;
  for (const s of series) {
    if (h.length < 2) continue;
    const pts = h.map((p) => `${x(p.at).toFixed(1)},${y(p[s.key]).toFixed(1)}`);
    if (s.area) {
      const first = x(h[0].at).toFixed(1), last = x(h[h.length - 1].at).toFixed(1);
      root.appendChild(svg('path', {
        d: `M${first},${H} L${pts.join(' L')} L${last},${H} Z`, class: 'area', fill: s.color, 'fill-opacity': 0.12,
      }));
    }
    root.appendChild(svg('path', { d: 'M' + pts.join(' L'), class: 'line', stroke: s.color }));
  }
  box.appendChild(root);
  box.appendChild(el('span', 'axis axis-max', String(max)));
  const mins = Math.round(span / 60000);
  box.appendChild(el('span', 'axis axis-start', mins + ' min ago'));
  box.appendChild(el('span', 'axis axis-end', 'now'));
}
function niceMax(v) {
  if (v <= 4) return 4;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
