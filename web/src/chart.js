// chart.js: one metric panel, every selected run overlaid.
//
// uPlot draws the axes, grid, cursor and drag-to-zoom selection; the runs
// themselves are drawn in a `draw` hook from each run's own arrays. uPlot's
// own series would need every run on one shared x array (the union of all
// runs' steps, 50 runs x 2000 buckets = 100 000 rows of 200 mostly empty
// columns); drawing per run keeps a panel at O(points shown) and lets us
// draw the min/max band of bucketed data, the faint raw line behind the
// smoothed one, and the reference levels exactly as we want them.
//
// Data per run: `full` (the whole run at panel-width resolution, extended by
// live polling) and `zoom` (the zoomed window at panel-width resolution,
// fetched when the user zooms). The legend shows, for each run, the point
// nearest the cursor (or the latest point when the cursor is away).

import { ema } from './smooth.js';
import { fmtValue, fmtStep, fmtStepShort, fmtTime, fmtTimeTicks, csvText } from './format.js';
import { layoutLabels } from './marks.js';
import { withAlpha, REF_COLLAPSED, REF_IDEAL } from './colors.js';
import { getSeries } from './api.js';
import { el } from './dom.js';

// The protocol's metric catalogue (common/ew_protocol.h, EW_METRICS), in
// the order the panels show them; tests/integration/test_facts.py checks
// that the keys are exactly the catalogue's names.
export const METRIC_INFO = {
  er_entropy: {
    title: 'ER entropy',
    unit: 'nats',
    desc: 'vMF kernel entropy of the batch. Higher is healthier; a collapsed batch sits on the red line.',
  },
  rankme: {
    title: 'RankMe',
    unit: 'effective rank',
    desc: 'Effective rank of the embeddings. Falls towards 1 in dimensional collapse.',
  },
  std_l2: {
    title: 'std of l2-normalised embeddings',
    unit: '',
    desc: 'Mean per-dimension std after normalising rows. 0 when collapsed, about 1/√d when healthy.',
  },
  uniform: {
    title: 'Uniformity',
    unit: '',
    desc: 'Wang & Isola uniformity loss (t = 2). Lower is more uniform; 0 when collapsed.',
  },
  w2: {
    title: 'W2 uniformity',
    unit: '',
    desc: 'Wasserstein-2 distance to N(0, I/d). 0 is ideal, √2 is collapsed.',
  },
  er_reconstruction: {
    title: 'ER reconstruction',
    unit: 'nats',
    desc: 'How well one view predicts the other. Lower means the views agree.',
  },
  align: {
    title: 'Alignment',
    unit: '',
    desc: 'Mean squared distance between the two views. Lower means the views agree.',
  },
};

// Series the daemon stores beside the metrics (common/ew_protocol.h; test_facts.py
// checks the name). pool_ranks: a pooled step's rank count, drawn against a
// dashed line at each run's world size, so a partial step (a rank that
// missed --pool-timeout-ms) is a dip below it.
export const SERIES_INFO = {
  pool_ranks: {
    title: 'Ranks pooled',
    unit: 'ranks',
    levels: 'world', // the dashed line: each run's world size
    desc: 'How many ranks each pooled step was computed from. Below the dashed line (the job\'s world size) a step is partial: a rank\'s part missed the pool timeout.',
  },
};

const KNOWN_ORDER = Object.keys(METRIC_INFO); // then scalars, by name

export function metricOrder(a, b) {
  const ia = KNOWN_ORDER.indexOf(a);
  const ib = KNOWN_ORDER.indexOf(b);
  if (ia !== ib) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}

const FONT = '11px Inter, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const AXIS = '#5b6472';
const GRID = '#edf0f4';
const HEIGHT = 230;

// The API's arrays (null for undefined values) as numbers (NaN).
function toSeriesData(js, range) {
  const num = (a) => (a ? Float64Array.from(a, (v) => (v == null ? NaN : v)) : null);
  return {
    step: num(js.step),
    value: num(js.value),
    min: js.bucketed ? num(js.min) : null,
    max: js.bucketed ? num(js.max) : null,
    time: num(js.time),
    bucketed: !!js.bucketed,
    ref: js.ref || null,
    range: range || null,
  };
}

function concat(a, b) {
  if (!a) return b;
  if (!b) return a;
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// Appends `more` (points after a's last step) to a. A bucketed part keeps
// its min/max; raw points get min = max = value so the band stays whole.
function appendData(a, more) {
  if (!a.step.length) return more;
  const mm = (d, k) => d[k] || d.value;
  const bucketed = a.bucketed || more.bucketed;
  return {
    step: concat(a.step, more.step),
    value: concat(a.value, more.value),
    min: bucketed ? concat(mm(a, 'min'), mm(more, 'min')) : null,
    max: bucketed ? concat(mm(a, 'max'), mm(more, 'max')) : null,
    time: a.time && more.time ? concat(a.time, more.time) : null,
    bucketed,
    ref: more.ref || a.ref,
    range: a.range,
  };
}

// Index of the point whose x is nearest to x (xs ascending).
function nearest(xs, x) {
  let lo = 0;
  let hi = xs.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x)) return lo - 1;
  return lo;
}

function lastFinite(a) {
  for (let i = a.length - 1; i >= 0; i--) if (Number.isFinite(a[i])) return i;
  return -1;
}

export class Panel {
  constructor(app, metric) {
    this.app = app;
    this.metric = metric;
    this.runs = new Map(); // run name -> { full, zoom, smooth, error }
    this.u = null;
    this.gen = 0; // bumps on every reload: late answers are dropped
    this.zoomGen = 0;
    this.logFallback = false;
    this.cursorIdx = null;
    const info = METRIC_INFO[metric] || SERIES_INFO[metric] || { title: metric, unit: '', desc: 'Scalar sent by the training job.' };
    this.info = info;

    this.root = el('section', { class: 'panel', 'data-metric': metric });
    const csv = el('button', { type: 'button', class: 'btn small', text: 'CSV', title: 'Download the data drawn in this panel as CSV', onclick: () => this.download('csv') });
    const json = el('button', { type: 'button', class: 'btn small', text: 'JSON', title: 'Download the data drawn in this panel as JSON', onclick: () => this.download('json') });
    this.note = el('span', { class: 'note' });
    this.head = el(
      'div',
      { class: 'panel-head' },
      el('div', { class: 'title' },
        el('h3', {}, el('span', { text: info.title }), metric !== info.title ? el('code', { class: 'mname', text: metric }) : null),
        el('p', { class: 'desc', text: info.desc })),
      el('div', { class: 'actions' }, this.note, csv, json),
    );
    this.plot = el('div', { class: 'plot' });
    this.msg = el('div', { class: 'plot-msg' });
    this.legend = el('table', { class: 'legend' });
    this.root.append(this.head, el('div', { class: 'plot-wrap' }, this.plot, this.msg), this.legend);
    this.dots = new Map();
  }

  // ------------------------------------------------------------ data

  // The data drawn for a run: the zoomed window when it matches the view.
  view(entry) {
    const r = this.app.state.range;
    if (r && entry.zoom && entry.zoom.range && entry.zoom.range[0] === r[0] && entry.zoom.range[1] === r[1]) return entry.zoom;
    return entry.full;
  }

  xs(d) {
    return this.app.state.x === 'time' ? d.time : d.step;
  }

  points() {
    const w = this.plot.clientWidth || 800;
    return Math.max(50, Math.min(4000, Math.round(w)));
  }

  // Loads the whole of every selected run (at panel-width resolution).
  async loadFull() {
    const gen = ++this.gen;
    const runs = this.app.runsWithMetric(this.metric);
    const { tag } = this.app.state;
    for (const name of [...this.runs.keys()]) if (!runs.includes(name)) this.runs.delete(name);
    const points = this.points();
    this.setMessage(runs.length ? '' : 'No selected run has this metric.');
    const jobs = runs.map(async (run) => {
      try {
        const js = await getSeries({ run, tag, metric: this.metric, points, time: this.app.state.x === 'time' });
        if (gen !== this.gen) return;
        const e = this.runs.get(run) || {};
        e.full = toSeriesData(js);
        e.error = null;
        this.runs.set(run, e);
      } catch (err) {
        if (gen !== this.gen) return;
        this.runs.set(run, { full: null, error: String(err.message || err) });
      }
      this.refresh();
    });
    await Promise.all(jobs);
    if (gen !== this.gen) return;
    if (this.app.state.range) await this.loadZoom();
    this.refresh();
  }

  // Asks for the zoomed window so that detail appears (server-side
  // downsampling at panel width over the narrower range).
  async loadZoom() {
    const range = this.app.state.range;
    if (!range) return;
    const gen = ++this.zoomGen;
    const { tag } = this.app.state;
    const points = this.points();
    const jobs = [...this.runs.entries()].map(async ([run, e]) => {
      if (!e.full) return;
      const win = this.stepWindow(e.full, range);
      if (!win) return;
      try {
        const js = await getSeries({ run, tag, metric: this.metric, after: win[0], before: win[1], points, time: this.app.state.x === 'time' });
        if (gen !== this.zoomGen) return;
        e.zoom = toSeriesData(js, range);
        this.refresh();
      } catch (err) {
        /* keep showing the full data clipped to the window */
      }
    });
    await Promise.all(jobs);
  }

  // The exclusive step bounds (after, before) that cover an x window with a
  // small margin, so lines run to the edges.
  stepWindow(full, range) {
    let [lo, hi] = range;
    if (this.app.state.x === 'time') {
      if (!full.time || !full.time.length) return null;
      // the last step at or before lo, the first at or after hi
      let a = null;
      let b = null;
      for (let i = 0; i < full.time.length; i++) {
        if (full.time[i] <= lo) a = full.step[i];
        if (full.time[i] >= hi && b === null) b = full.step[i];
      }
      return [a === null ? null : Math.floor(a) - 1, b === null ? null : Math.ceil(b) + 1];
    }
    const pad = (hi - lo) * 0.02;
    lo -= pad;
    hi += pad;
    return [Math.ceil(lo) - 1, Math.floor(hi) + 1];
  }

  // Live update: the points of `run` after the last one we hold.
  async appendNew(run) {
    const e = this.runs.get(run);
    if (!e || !e.full || !e.full.step.length) return this.loadFull();
    const after = e.full.step[e.full.step.length - 1];
    const gen = this.gen;
    const js = await getSeries({ run, tag: this.app.state.tag, metric: this.metric, after, points: this.points(), time: this.app.state.x === 'time' });
    if (gen !== this.gen || !js.step.length) return;
    const cur = this.runs.get(run);
    if (!cur || cur !== e || !e.full || e.full.step[e.full.step.length - 1] !== after) return;
    e.full = appendData(e.full, toSeriesData(js));
    // Far more points than pixels after a long live session: re-read at
    // panel resolution rather than keep growing.
    if (e.full.step.length > 4 * this.points()) return this.loadFull();
    this.refresh();
  }

  // ------------------------------------------------------------ drawing

  smoothed(entry, d) {
    const w = this.app.state.smooth;
    if (!(w > 0)) return d.value;
    if (entry.smoothCache && entry.smoothCache.d === d && entry.smoothCache.w === w) return entry.smoothCache.s;
    const s = ema(d.value, w);
    entry.smoothCache = { d, w, s };
    return s;
  }

  // Whether run has a finite point inside the x window shown.
  visibleIn(run, x0, x1) {
    const e = this.runs.get(run);
    if (!e || !e.full || !this.app.selectedRuns().includes(run)) return false;
    const d = this.view(e);
    const xs = this.xs(d);
    if (!xs) return false;
    for (let i = 0; i < xs.length; i++) if (xs[i] >= x0 && xs[i] <= x1 && Number.isFinite(d.value[i])) return true;
    return false;
  }

  // Reference levels, deduplicated across runs (runs of the same shape
  // share them), of the runs with a point in the window shown only: a
  // level is drawn for a shape some visible run has, never for another.
  refs() {
    const out = [];
    const [x0, x1] = this.curX || [-Infinity, Infinity];
    if (this.info.levels === 'world') return this.worldRefs(x0, x1);
    for (const [run, e] of this.runs) {
      const ref = e.full && e.full.ref;
      if (!ref || !this.visibleIn(run, x0, x1)) continue;
      for (const [kind, color] of [['collapsed', REF_COLLAPSED], ['ideal', REF_IDEAL]]) {
        const v = ref[kind];
        if (v == null || !Number.isFinite(v)) continue;
        if (out.some((o) => o.kind === kind && Math.abs(o.v - v) <= 1e-9 * Math.max(1, Math.abs(v)))) continue;
        out.push({ kind, v, color, ref });
      }
    }
    return out;
  }

  // A rank-count panel's levels (SERIES_INFO levels 'world'): every visible pooled run's world size
  // (/api/runs), one line per distinct size.
  worldRefs(x0, x1) {
    const out = [];
    for (const [run, e] of this.runs) {
      const r = this.app.byName.get(run);
      const w = r && r.world;
      if (!e.full || !(w >= 2) || !this.visibleIn(run, x0, x1) || out.some((o) => o.v === w)) continue;
      out.push({ kind: 'ideal', v: w, color: REF_IDEAL, ref: null, label: `all ${w} ranks` });
    }
    return out;
  }

  extent() {
    let lo = Infinity;
    let hi = -Infinity;
    for (const [, e] of this.runs) {
      if (!e.full) continue;
      const xs = this.xs(e.full);
      if (!xs || !xs.length) continue;
      lo = Math.min(lo, xs[0]);
      hi = Math.max(hi, xs[xs.length - 1]);
    }
    if (!Number.isFinite(lo)) return null;
    if (lo === hi) {
      lo -= 1;
      hi += 1;
    }
    return [lo, hi];
  }

  // y range over what is visible in [x0, x1], reference levels included.
  yRange(x0, x1) {
    const log = this.app.state.y === 'log' && !this.logFallback;
    let lo = Infinity;
    let hi = -Infinity;
    const take = (v) => {
      if (!Number.isFinite(v) || (log && v <= 0)) return;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    };
    for (const [, e] of this.runs) {
      if (!e.full) continue;
      const d = this.view(e);
      const xs = this.xs(d);
      if (!xs) continue;
      const sm = this.smoothed(e, d);
      for (let i = 0; i < xs.length; i++) {
        if (xs[i] < x0 || xs[i] > x1) continue;
        take(d.value[i]);
        take(sm[i]);
        if (d.min) {
          take(d.min[i]);
          take(d.max[i]);
        }
      }
    }
    for (const r of this.refs()) take(r.v);
    if (!Number.isFinite(lo)) return log ? [0.1, 10] : [0, 1];
    if (log) {
      const f = lo === hi ? 2 : Math.pow(hi / lo, 0.06);
      return [lo / f, hi * f];
    }
    const pad = lo === hi ? Math.max(1e-9, Math.abs(lo) * 0.05 || 0.5) : (hi - lo) * 0.1;
    return [lo - pad, hi + pad];
  }

  // Whether log scale can be used: some positive value.
  canLog() {
    for (const [, e] of this.runs) {
      if (!e.full) continue;
      const d = this.view(e);
      for (let i = 0; i < d.value.length; i++) if (d.value[i] > 0) return true;
    }
    return false;
  }

  draw(u) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const dpr = devicePixelRatio || 1;
    const log = this.app.state.y === 'log' && !this.logFallback;
    const X = (v) => u.valToPos(v, 'x', true);
    const Y = (v) => (log && v <= 0 ? NaN : u.valToPos(v, 'y', true));
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();

    // Reference levels: a pale zone near collapse, dashed lines, labels.
    const refs = this.refs();
    const col = refs.find((r) => r.kind === 'collapsed');
    const ide = refs.find((r) => r.kind === 'ideal');
    if (col && ide) {
      const y0 = Y(col.v);
      const y1 = Y(col.v + 0.15 * (ide.v - col.v));
      if (Number.isFinite(y0) && Number.isFinite(y1)) {
        ctx.fillStyle = withAlpha(REF_COLLAPSED, 0.07);
        const beyond = ide.v > col.v ? top + height : top; // the far side of the collapsed line
        const ya = Math.min(y1, beyond);
        const yb = Math.max(y1, beyond);
        ctx.fillRect(left, ya, width, yb - ya);
      }
    }
    ctx.font = `${11 * dpr}px Inter, system-ui, sans-serif`;
    ctx.textAlign = 'right';
    for (const r of refs) {
      const y = Y(r.v);
      if (!Number.isFinite(y)) continue;
      ctx.strokeStyle = r.color;
      ctx.lineWidth = 1.25 * dpr;
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y) + 0.5);
      ctx.lineTo(left + width, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.setLineDash([]);
      // several shapes on show: say which one a level belongs to
      const several = refs.filter((o) => o.kind === r.kind).length > 1;
      const label = r.label || (r.kind === 'collapsed' ? 'collapsed' : 'ideal') + (several && r.ref ? ` (d=${r.ref.d}, N=${r.ref.n})` : '');
      const ly = y < top + 14 * dpr ? y + 13 * dpr : y - 4 * dpr;
      ctx.fillStyle = withAlpha('#ffffff', 0.85);
      const tw = ctx.measureText(label).width;
      ctx.fillRect(left + width - tw - 10 * dpr, ly - 10 * dpr, tw + 8 * dpr, 13 * dpr);
      ctx.fillStyle = r.color;
      ctx.fillText(label, left + width - 6 * dpr, ly);
    }

    this.drawAlerts(ctx, X, left, top, width, height, dpr);

    const smoothing = this.app.state.smooth > 0;
    for (const [run, e] of this.runs) {
      if (!e.full) continue;
      const color = this.app.colorOf(run);
      const d = this.view(e);
      const xs = this.xs(d);
      if (!xs) continue;
      const n = xs.length;
      // min/max band of bucketed data: one bar per bucket, tiling the x axis
      if (d.min) {
        ctx.fillStyle = withAlpha(color, 0.16);
        let prevX = null;
        for (let i = 0; i < n; i++) {
          const px = X(xs[i]);
          const a = Y(d.max[i]);
          const b = Y(d.min[i]);
          const x0 = prevX === null ? px - dpr : prevX;
          prevX = px;
          if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
          ctx.fillRect(x0, a, Math.max(dpr, px - x0), Math.max(dpr, b - a));
        }
      }
      const sm = this.smoothed(e, d);
      if (smoothing) this.line(ctx, xs, d.value, X, Y, withAlpha(color, 0.28), 1 * dpr);
      this.line(ctx, xs, sm, X, Y, color, 1.75 * dpr);
      // dots when points are sparse enough to be seen one by one
      let vis = 0;
      for (let i = 0; i < n; i++) if (xs[i] >= u.scales.x.min && xs[i] <= u.scales.x.max) vis++;
      if (vis > 0 && vis <= width / (10 * dpr)) {
        ctx.fillStyle = color;
        for (let i = 0; i < n; i++) {
          const px = X(xs[i]);
          const py = Y(sm[i]);
          if (!Number.isFinite(py)) continue;
          ctx.beginPath();
          ctx.arc(px, py, 2.2 * dpr, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    ctx.restore();
  }

  // Firing alerts on this metric: a dashed line where each fired, in the
  // run's colour, labelled with the rule and the run; labels are laid out
  // (marks.js) so that none covers another. this.alertMarks keeps what was
  // drawn (for the tests).
  drawAlerts(ctx, X, left, top, width, height, dpr) {
    const app = this.app;
    const items = [];
    for (const a of app.alerts || []) {
      if (a.metric !== this.metric || a.tag !== app.state.tag || !this.runs.has(a.run)) continue;
      if (!app.selectedRuns().includes(a.run)) continue;
      const xv = app.state.x === 'time' ? a.fired_time : a.fired_step;
      if (xv == null) continue;
      const px = Math.round(X(xv)) + 0.5;
      if (!(px >= left && px <= left + width)) continue;
      const text = `⚠ ${a.rule} · ${a.run}`;
      items.push({ a, x: px, text, width: ctx.measureText(text).width + 6 * dpr, color: app.colorOf(a.run) });
    }
    const rowH = 15 * dpr;
    const placed = layoutLabels(items, { left, right: left + width, rowHeight: rowH, gap: 3 * dpr,
      maxRows: Math.max(1, Math.floor((height - 8 * dpr) / rowH)) });
    this.alertMarks = [];
    items.forEach((it, i) => {
      ctx.strokeStyle = it.color;
      ctx.lineWidth = 1.25 * dpr;
      ctx.setLineDash([3 * dpr, 3 * dpr]);
      ctx.beginPath();
      ctx.moveTo(it.x, top);
      ctx.lineTo(it.x, top + height);
      ctx.stroke();
      ctx.setLineDash([]);
      const p = placed[i];
      const mark = { run: it.a.run, rule: it.a.rule, color: it.color, text: it.text, x: it.x / dpr, label: null };
      if (p) {
        const y = top + 4 * dpr + p.y;
        ctx.fillStyle = withAlpha('#ffffff', 0.9);
        ctx.fillRect(p.x0, y, p.x1 - p.x0, rowH - 2 * dpr);
        ctx.fillStyle = it.color;
        ctx.textAlign = 'left';
        ctx.textBaseline = 'middle';
        ctx.fillText(it.text, p.x0 + 3 * dpr, y + (rowH - 2 * dpr) / 2);
        ctx.textBaseline = 'alphabetic';
        mark.label = { x0: p.x0 / dpr, x1: p.x1 / dpr, y0: (y - top) / dpr, y1: (y - top + rowH - 2 * dpr) / dpr };
      }
      this.alertMarks.push(mark);
    });
  }

  line(ctx, xs, ys, X, Y, color, lw) {
    ctx.strokeStyle = color;
    ctx.lineWidth = lw;
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    ctx.beginPath();
    let pen = false;
    let single = null;
    let segLen = 0;
    for (let i = 0; i < xs.length; i++) {
      const py = Number.isFinite(ys[i]) ? Y(ys[i]) : NaN;
      if (!Number.isFinite(py)) {
        if (segLen === 1 && single) ctx.rect(single[0] - lw / 2, single[1] - lw / 2, lw, lw);
        pen = false;
        segLen = 0;
        continue;
      }
      const px = X(xs[i]);
      if (!pen) {
        ctx.moveTo(px, py);
        pen = true;
        single = [px, py];
        segLen = 1;
      } else {
        ctx.lineTo(px, py);
        segLen++;
      }
    }
    ctx.stroke();
  }

  // ------------------------------------------------------------ uPlot

  build() {
    if (this.u) {
      this.u.destroy();
      this.u = null;
    }
    this.dots.clear();
    const app = this.app;
    const time = app.state.x === 'time';
    this.logFallback = app.state.y === 'log' && !this.canLog();
    const log = app.state.y === 'log' && !this.logFallback;
    this.note.textContent = this.logFallback ? 'log scale n/a: values ≤ 0' : '';
    const opts = {
      width: Math.max(200, this.plot.clientWidth || 600),
      height: HEIGHT,
      pxAlign: 0,
      scales: {
        x: { time },
        y: {
          distr: log ? 3 : 1,
          log: 10,
          // uPlot asks for y while it is still settling x: use the window
          // we set (applyX) rather than u.scales.x.
          range: () => this.yRange(this.curX[0], this.curX[1]),
        },
      },
      series: [{}, { label: 'extent', stroke: 'transparent', width: 0, points: { show: false } }],
      axes: [
        {
          stroke: AXIS,
          font: FONT,
          size: time ? 46 : 34, // wall time: the date on a second line
          grid: { stroke: GRID, width: 1 },
          ticks: { stroke: GRID, width: 1, size: 4 },
          values: time ? (u, splits) => fmtTimeTicks(splits) : (u, splits) => splits.map((v) => (v == null ? '' : fmtStepShort(v))),
          label: time ? 'wall time' : 'step',
          labelSize: 18,
          labelFont: FONT,
        },
        {
          stroke: AXIS,
          font: FONT,
          size: 62,
          grid: { stroke: GRID, width: 1 },
          ticks: { stroke: GRID, width: 1, size: 4 },
          values: (u, splits) => splits.map((v) => (v == null ? '' : fmtValue(v))),
          label: this.info.unit || undefined,
          labelSize: this.info.unit ? 18 : 0,
          labelFont: FONT,
        },
      ],
      legend: { show: false },
      cursor: {
        // Share the cursor position across panels, not drags: each panel
        // would otherwise turn the same pixels into its own zoom.
        sync: { key: 'erwatch', filters: { pub: (type) => type === 'mousemove' || type === 'mouseleave' } },
        drag: { x: true, y: false, setScale: false },
        points: { show: false },
        bind: {
          dblclick: () => () => {
            app.resetZoom();
            return null;
          },
        },
      },
      hooks: {
        draw: [(u) => this.draw(u)],
        setCursor: [(u) => this.onCursor(u)],
        setSelect: [(u) => this.onSelect(u)],
      },
    };
    const ext = this.extent() || [0, 1];
    this.curX = this.app.state.range || ext;
    this.u = new uPlot(opts, [ext, [null, null]], this.plot);
    this.applyX();
    this.renderLegend();
  }

  applyX() {
    if (!this.u) return;
    const ext = this.extent() || [0, 1];
    const r = this.app.state.range || ext;
    this.curX = r;
    this.u.batch(() => {
      this.u.setData([ext, [null, null]], false);
      this.u.setScale('x', { min: r[0], max: r[1] });
    });
    this.u.redraw(false, true);
  }

  // Data changed: redraw with the same axes (or rebuild when the axis kind
  // changed or log became (im)possible).
  refresh() {
    const wantFallback = this.app.state.y === 'log' && !this.canLog();
    if (!this.u || wantFallback !== this.logFallback) return this.build();
    this.applyX();
    this.renderLegend();
  }

  setMessage(text) {
    this.msg.textContent = text;
    this.msg.hidden = !text;
  }

  onSelect(u) {
    if (u.select.width < 3) return;
    const lo = u.posToVal(u.select.left, 'x');
    const hi = u.posToVal(u.select.left + u.select.width, 'x');
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.app.zoom([lo, hi]);
  }

  onCursor(u) {
    const left = u.cursor.left;
    this.cursorX = left == null || left < 0 ? null : u.posToVal(left, 'x');
    this.renderLegend();
  }

  // ------------------------------------------------------------ legend

  renderLegend() {
    const rows = [];
    const app = this.app;
    const time = app.state.x === 'time';
    const smoothing = app.state.smooth > 0;
    const tb = document.createElement('tbody');
    // Fixed column widths (style.css): the run name gives way (ellipsis),
    // so the time column stays inside the card however narrow it is.
    const head = el('tr', {},
      el('th', { class: 'c-run', text: 'run' }),
      el('th', { class: 'num c-val', text: smoothing ? 'smoothed' : 'value' }),
      smoothing ? el('th', { class: 'num c-val', text: 'raw' }) : null,
      el('th', { class: 'num c-step', text: 'step' }),
      time ? el('th', { class: 'num c-time', text: 'time' }) : null);
    const span = 2 + (smoothing ? 1 : 0) + (time ? 1 : 0); // columns after the run's
    tb.append(head);
    for (const run of app.selectedRuns()) {
      const e = this.runs.get(run);
      if (!e) continue;
      const color = app.colorOf(run);
      let i = -1;
      let d = null;
      let sm = null;
      if (e.full) {
        d = this.view(e);
        const xs = this.xs(d);
        sm = this.smoothed(e, d);
        if (xs && xs.length) i = this.cursorX == null ? lastFinite(d.value) : nearest(xs, this.cursorX);
        if (i < 0 && xs && xs.length) i = xs.length - 1;
      }
      const tr = el('tr', { 'data-run': run });
      tr.append(el('td', { class: 'run', title: run }, el('span', { class: 'sw', style: `background:${color}` }), el('span', { class: 'rn', text: run })));
      if (e.error) {
        tr.append(el('td', { class: 'err', colspan: span, text: e.error, title: e.error }));
      } else if (i >= 0) {
        const v = d.value[i];
        tr.setAttribute('data-step', String(d.step[i]));
        tr.setAttribute('data-value', String(v));
        const val = el('td', { class: 'num val', text: fmtValue(smoothing ? sm[i] : v) });
        if (d.min && Number.isFinite(d.min[i])) val.title = `bucket of steps: min ${fmtValue(d.min[i])}, max ${fmtValue(d.max[i])}`;
        tr.append(val);
        if (smoothing) tr.append(el('td', { class: 'num raw', text: fmtValue(v) }));
        tr.append(el('td', { class: 'num step', text: fmtStep(d.step[i]) }));
        if (time) tr.append(el('td', { class: 'num muted time', text: d.time ? fmtTime(d.time[i]) : '' }));
      } else {
        tr.append(el('td', { class: 'muted', colspan: span, text: e.full ? 'no points' : 'loading…' }));
      }
      rows.push(tr);
      this.placeDot(run, color, d, sm, i);
    }
    for (const [run, dot] of this.dots) if (!this.runs.has(run)) { dot.remove(); this.dots.delete(run); }
    tb.append(...rows);
    this.legend.replaceChildren(tb);
  }

  placeDot(run, color, d, sm, i) {
    if (!this.u) return;
    let dot = this.dots.get(run);
    if (!dot) {
      dot = el('div', { class: 'hover-dot' });
      this.u.over.append(dot);
      this.dots.set(run, dot);
    }
    const xs = d && this.xs(d);
    if (this.cursorX == null || !xs || i < 0 || !Number.isFinite(sm[i])) {
      dot.style.display = 'none';
      return;
    }
    const log = this.app.state.y === 'log' && !this.logFallback;
    if (log && sm[i] <= 0) {
      dot.style.display = 'none';
      return;
    }
    const x = this.u.valToPos(xs[i], 'x');
    const y = this.u.valToPos(sm[i], 'y');
    dot.style.display = '';
    dot.style.borderColor = color;
    dot.style.transform = `translate(${x - 4}px, ${y - 4}px)`;
  }

  // ------------------------------------------------------------ export

  exportData() {
    const app = this.app;
    const runs = [];
    for (const run of app.selectedRuns()) {
      const e = this.runs.get(run);
      if (!e || !e.full) continue;
      const d = this.view(e);
      const sm = this.smoothed(e, d);
      const arr = (a) => (a ? Array.from(a, (v) => (Number.isFinite(v) ? v : null)) : undefined);
      runs.push({
        run,
        bucketed: d.bucketed,
        step: Array.from(d.step),
        time: arr(d.time),
        value: arr(d.value),
        min: arr(d.min),
        max: arr(d.max),
        smoothed: app.state.smooth > 0 ? arr(sm) : undefined,
        ref: d.ref || e.full.ref || undefined,
      });
    }
    return {
      metric: this.metric,
      tag: app.state.tag,
      smoothing: app.state.smooth,
      x: app.state.x,
      range: app.state.range,
      runs,
    };
  }

  download(kind) {
    const data = this.exportData();
    let blob;
    const base = `erwatch-${data.tag}-${this.metric}`.replace(/[^A-Za-z0-9._-]+/g, '_');
    if (kind === 'json') {
      blob = new Blob([JSON.stringify(data, null, 1)], { type: 'application/json' });
    } else {
      const q = csvText;
      const num = (v) => (v == null || !Number.isFinite(v) ? '' : String(v));
      const lines = ['run,tag,metric,step,time,value,min,max,smoothed'];
      for (const r of data.runs) {
        for (let i = 0; i < r.step.length; i++) {
          lines.push([q(r.run), q(data.tag), q(this.metric), String(r.step[i]), num(r.time && r.time[i]), num(r.value[i]),
            num(r.min && r.min[i]), num(r.max && r.max[i]), num(r.smoothed && r.smoothed[i])].join(','));
        }
      }
      blob = new Blob([lines.join('\n') + '\n'], { type: 'text/csv' });
    }
    const a = el('a', { href: URL.createObjectURL(blob), download: `${base}.${kind}` });
    document.body.append(a);
    a.click();
    setTimeout(() => {
      URL.revokeObjectURL(a.href);
      a.remove();
    }, 1000);
  }

  // ------------------------------------------------------------ misc

  resize() {
    if (!this.u) return;
    const w = Math.max(200, this.plot.clientWidth);
    if (Math.abs(w - this.u.width) > 1) this.u.setSize({ width: w, height: HEIGHT });
  }

  // The latest er_entropy as a fraction of the way from collapsed to ideal.
  health(run) {
    const e = this.runs.get(run);
    if (!e || !e.full || !e.full.ref) return null;
    const { collapsed, ideal } = e.full.ref;
    if (!Number.isFinite(collapsed) || !Number.isFinite(ideal) || ideal === collapsed) return null;
    const i = lastFinite(e.full.value);
    if (i < 0) return null;
    return (e.full.value[i] - collapsed) / (ideal - collapsed);
  }

  destroy() {
    if (this.u) this.u.destroy();
    this.u = null;
    this.root.remove();
  }
}
