// state.js: the view state and its URL form. Everything a user can change
// (runs, tag, metrics, smoothing, axes, zoom range, run filter, spectrum
// run, page of the run list) lives in the query string, so a copied link
// reproduces the view.
//
//   ?run=a&run=b&tag=projector&metric=er_entropy&smooth=0.6&x=time&y=log
//    &from=100&to=2000&q=simclr&spec=a&page=2
//
// Repeated keys (run, metric) keep names with commas or any other character
// intact; URLSearchParams does the escaping.

export function defaultState() {
  return {
    runs: null,      // selected run names in colour order; null: pick defaults
    tag: null,       // null: the first tag of the selection
    metrics: null,   // panels shown, in order; null: every metric there is
    smooth: 0,
    x: 'step',       // 'step' | 'time'
    y: 'lin',        // 'lin' | 'log'
    range: null,     // [lo, hi] on the x axis, or null for everything
    filter: '',
    spec: null,      // run whose spectrum is shown
    page: 0,         // page of the run list (PAGE runs each), 0: the newest
  };
}

// The runs ticked on a first visit: the most recent ones (up to n) that
// have the tag shown, so that no ticked run is missing from every panel.
// The tag: the one asked for when some run has it, else the most common
// among the n most recent runs. runs: /api/runs order, most recent first.
export function defaultSelection(runs, tag, n) {
  const has = (r, t) => (r.tags || []).some((x) => x.tag === t);
  if (!tag || !runs.some((r) => has(r, tag))) {
    const count = new Map();
    for (const r of runs.slice(0, n)) for (const t of r.tags || []) count.set(t.tag, (count.get(t.tag) || 0) + 1);
    const best = [...count.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    tag = best ? best[0] : tag || null;
  }
  return { tag, runs: runs.filter((r) => has(r, tag)).slice(0, n).map((r) => r.run) };
}

export function parseState(search) {
  const p = new URLSearchParams(search);
  const s = defaultState();
  if (p.has('run')) s.runs = p.getAll('run').filter(Boolean);
  if (p.get('tag')) s.tag = p.get('tag');
  if (p.has('metric')) s.metrics = p.getAll('metric').filter(Boolean);
  const sm = Number(p.get('smooth'));
  if (Number.isFinite(sm) && sm >= 0 && sm <= 0.99) s.smooth = sm;
  if (p.get('x') === 'time') s.x = 'time';
  if (p.get('y') === 'log') s.y = 'log';
  const lo = Number(p.get('from'));
  const hi = Number(p.get('to'));
  if (p.has('from') && p.has('to') && Number.isFinite(lo) && Number.isFinite(hi) && lo < hi) s.range = [lo, hi];
  s.filter = p.get('q') || '';
  s.spec = p.get('spec') || null;
  const pg = Number(p.get('page'));
  if (Number.isInteger(pg) && pg > 0) s.page = pg;
  return s;
}

export function stateToSearch(s) {
  const p = new URLSearchParams();
  for (const r of s.runs || []) p.append('run', r);
  if (s.tag) p.set('tag', s.tag);
  if (s.metrics) for (const m of s.metrics) p.append('metric', m);
  if (s.smooth > 0) p.set('smooth', s.smooth.toFixed(2));
  if (s.x !== 'step') p.set('x', s.x);
  if (s.y !== 'lin') p.set('y', s.y);
  if (s.range) {
    const dec = s.x === 'time' ? 3 : 0;
    p.set('from', s.range[0].toFixed(dec));
    p.set('to', s.range[1].toFixed(dec));
  }
  if (s.filter) p.set('q', s.filter);
  if (s.spec) p.set('spec', s.spec);
  if (s.page > 0) p.set('page', String(s.page));
  const q = p.toString();
  return q ? '?' + q : '';
}
