// spectrum.js: the singular-value spectrum of one run/tag over steps, as a
// heatmap (x: step, y: index of the singular value, largest at the top,
// colour: log10 of the normalised value). Healthy embeddings keep a bright
// tail; dimensional collapse shows as the tail going dark from the bottom.
//
// Data: GET /api/spectrum?run&tag[&after][&before][&points] ->
//   {"run":..,"tag":..,"step":[..],"values":[[..],..]}  (one array per step)
// A 404 means nothing is stored for that run/tag (or a daemon without
// spectra): the panel says so instead of drawing.

import { getSpectrum } from './api.js';
import { fmtStepShort, fmtValue } from './format.js';

// viridis, sampled at 9 stops
const STOPS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

function colormap(t) {
  t = Math.max(0, Math.min(1, t));
  const x = t * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i];
  const b = STOPS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

const DECADES = 4; // colour range: the largest value down to 1e-4 of it
const M = { left: 62, right: 12, top: 8, bottom: 34 };
const HEIGHT = 200;

export class SpectrumPanel {
  constructor(app) {
    this.app = app;
    this.root = document.getElementById('spectrum');
    this.sel = document.getElementById('spec-run');
    this.canvas = document.getElementById('spec-canvas');
    this.msg = document.getElementById('spec-msg');
    this.legendEl = document.getElementById('spec-legend');
    this.data = null;
    this.gen = 0;
    this.sel.addEventListener('change', () => {
      app.state.spec = this.sel.value;
      app.saveState();
      this.load();
    });
  }

  // The run shown: the one the user picked, else the one most likely to
  // need a look, the worst by ER entropy (lowest fraction of the way from
  // collapsed to ideal, chart.js health()), else the first selected.
  run() {
    const runs = this.app.selectedRuns();
    const s = this.app.state.spec;
    if (s && runs.includes(s)) return s;
    const ent = this.app.panels.get('er_entropy');
    let worst = null;
    let worstH = Infinity;
    for (const r of runs) {
      const h = ent ? ent.health(r) : null;
      if (h != null && h < worstH) {
        worst = r;
        worstH = h;
      }
    }
    return worst || runs[0] || null;
  }

  // Called once the entropy panel has data: show the worst run if that is
  // not the one shown (and the user picked none).
  repick() {
    if (this.app.state.spec && this.app.selectedRuns().includes(this.app.state.spec)) return;
    if (this.run() !== this.shown) this.load();
  }

  syncRuns() {
    const runs = this.app.selectedRuns();
    this.root.hidden = runs.length === 0;
    const cur = this.run();
    this.sel.replaceChildren(...runs.map((r) => {
      const o = document.createElement('option');
      o.value = r;
      o.textContent = r;
      o.selected = r === cur;
      return o;
    }));
  }

  async load() {
    this.syncRuns();
    const run = this.run();
    const gen = ++this.gen;
    this.shown = run;
    const auto = !(this.app.state.spec && this.app.selectedRuns().includes(this.app.state.spec));
    this.sel.title = auto && run ? 'shown: the selected run with the lowest ER entropy; pick another here' : '';
    if (!run) return;
    const { tag, range, x } = this.app.state;
    const params = { run, tag, points: Math.max(50, Math.min(2000, this.width() - M.left - M.right)) };
    if (range && x === 'step') {
      params.after = Math.ceil(range[0]) - 1;
      params.before = Math.floor(range[1]) + 1;
    }
    try {
      const js = await getSpectrum(params);
      if (gen !== this.gen) return;
      this.data = js && js.step && js.step.length ? js : null;
      this.setMessage(this.data ? '' : `No spectrum in this range for ${run} / ${tag}.`);
    } catch (err) {
      if (gen !== this.gen) return;
      this.data = null;
      this.setMessage(err.status === 404 ? `No spectrum stored yet for ${run} / ${tag}.` : `Cannot load the spectrum: ${err.message}`);
    }
    this.draw();
  }

  setMessage(t) {
    this.msg.textContent = t;
    this.msg.hidden = !t;
    this.root.dataset.state = t ? 'empty' : 'drawn';
  }

  width() {
    return Math.max(300, this.canvas.parentElement.clientWidth || 800);
  }

  draw() {
    const dpr = devicePixelRatio || 1;
    const w = this.width();
    const c = this.canvas;
    const h = this.data ? HEIGHT : 64; // an empty panel stays small
    c.style.width = w + 'px';
    c.style.height = h + 'px';
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    this.legendEl.replaceChildren();
    const d = this.data;
    if (!d) return;
    const pw = w - M.left - M.right;
    const ph = HEIGHT - M.top - M.bottom;

    const n = d.step.length;
    let k = 0;
    let hi = -Infinity;
    for (const row of d.values) {
      if (!row) continue;
      k = Math.max(k, row.length);
      for (const v of row) if (v > 0) hi = Math.max(hi, Math.log10(v));
    }
    if (!k || !Number.isFinite(hi)) return;
    const lo = hi - DECADES;
    const img = ctx.createImageData(n, k);
    for (let i = 0; i < n; i++) {
      const row = d.values[i] || [];
      for (let j = 0; j < k; j++) {
        const v = row[j];
        const o = (j * n + i) * 4;
        if (v == null || !(v > 0)) {
          img.data[o + 3] = v === 0 ? 255 : 0; // an exact zero is the darkest colour
          if (v === 0) [img.data[o], img.data[o + 1], img.data[o + 2]] = STOPS[0];
          continue;
        }
        const [r, g, b] = colormap((Math.log10(v) - lo) / (hi - lo));
        img.data[o] = r;
        img.data[o + 1] = g;
        img.data[o + 2] = b;
        img.data[o + 3] = 255;
      }
    }
    const off = document.createElement('canvas');
    off.width = n;
    off.height = k;
    off.getContext('2d').putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, M.left, M.top, pw, ph);

    // axes
    ctx.fillStyle = '#5b6472';
    ctx.font = '11px Inter, system-ui, sans-serif';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText('1', M.left - 6, M.top + ph / k / 2);
    ctx.fillText(String(k), M.left - 6, M.top + ph - ph / k / 2);
    ctx.save();
    ctx.translate(14, M.top + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.fillText('singular value #', 0, 0);
    ctx.restore();
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const ticks = Math.min(6, n);
    for (let t = 0; t < ticks; t++) {
      const i = ticks === 1 ? 0 : Math.round((t * (n - 1)) / (ticks - 1));
      const x = M.left + ((i + 0.5) / n) * pw;
      ctx.fillText(fmtStepShort(d.step[i]), x, M.top + ph + 6);
    }
    ctx.fillText('step', M.left + pw / 2, M.top + ph + 20);

    // colour bar
    const bar = document.createElement('canvas');
    bar.width = 160;
    bar.height = 10;
    const bctx = bar.getContext('2d');
    for (let x = 0; x < 160; x++) {
      const [r, g, b] = colormap(x / 159);
      bctx.fillStyle = `rgb(${r},${g},${b})`;
      bctx.fillRect(x, 0, 1, 10);
    }
    const lab = (t) => {
      const s = document.createElement('span');
      s.textContent = t;
      return s;
    };
    this.legendEl.append(lab(`≤ ${fmtValue(Math.pow(10, lo))}`), bar, lab(fmtValue(Math.pow(10, hi))), lab(`(${d.run} / ${d.tag}, ${n} steps, log colour scale)`));
  }
}
