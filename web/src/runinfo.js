// runinfo.js: the "Runs" details card: for the selected runs, the name each
// launch gave (base), which launch wrote it last and whether it resumed,
// its notes, and its config (hyper-parameters) side by side, one column per
// run in the run's colour, rows whose values differ marked. Fetched from
// GET /api/run?run=NAME once per run and again only when the run's launch
// changes (/api/runs carries it), so the once-a-second poll costs nothing.

import { getRun } from './api.js';
import { el } from './dom.js';

const MAX_ROWS = 200; // keys shown; the rest is counted

// {"a": {"b": 1}, "c": [1, 2]} -> [["a.b", "1"], ["c", "[1,2]"]]
export function flattenConfig(obj, prefix = '', out = []) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) flattenConfig(v, key, out);
    else out.push([key, typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  return out;
}

export class RunInfo {
  constructor(app) {
    this.app = app;
    this.root = document.getElementById('run-info');
    this.body = document.getElementById('run-info-body');
    this.cache = new Map(); // run -> {launch, info} (info null: none / error)
    this.pending = new Set();
    this.shownKey = '';
  }

  // Called after every /api/runs and selection change.
  sync() {
    const runs = this.app.selectedRuns();
    for (const run of runs) {
      const r = this.app.byName.get(run);
      const launch = r ? r.launch || null : null;
      const c = this.cache.get(run);
      if ((!c || c.launch !== launch) && !this.pending.has(run)) this.fetch(run, launch);
    }
    this.render();
  }

  async fetch(run, launch) {
    this.pending.add(run);
    let info = null;
    try {
      info = await getRun(run);
    } catch (e) {
      info = null;
    }
    this.pending.delete(run);
    this.cache.set(run, { launch, info });
    this.render();
  }

  render() {
    const runs = this.app.selectedRuns().filter((r) => this.cache.has(r));
    const infos = runs.map((r) => [r, this.cache.get(r).info]).filter(([, i]) => i);
    const key = JSON.stringify(infos.map(([r, i]) => [r, i.launch, i.config, i.notes, this.app.colorOf(r)]));
    if (key === this.shownKey) return;
    this.shownKey = key;
    const any = infos.some(([, i]) => i.config || i.notes || (i.launches && i.launches.length));
    this.root.hidden = !any;
    if (!any) {
      this.body.replaceChildren();
      return;
    }
    const head = el('tr', null, el('th', { text: '' }),
      ...infos.map(([r]) => el('th', { 'data-run': r, style: `border-top: 3px solid ${this.app.colorOf(r)}`, text: r })));
    const rows = [];
    const row = (label, cells, cls) => {
      const differs = new Set(cells).size > 1;
      rows.push(el('tr', { class: (cls || '') + (differs ? ' diff' : ''), 'data-key': label },
        el('th', { scope: 'row', text: label }),
        ...cells.map((c) => el('td', { text: c }))));
    };
    row('launch', infos.map(([, i]) => {
      const ls = i.launches || [];
      const last = ls[ls.length - 1];
      if (!i.launch) return '—';
      const short = i.launch.length > 12 ? i.launch.slice(0, 12) + '…' : i.launch;
      return last && last.resumed ? `${short} (resumed at step ${last.first_step})` : short;
    }), 'meta');
    if (infos.some(([, i]) => i.base && i.base !== i.run)) row('name given', infos.map(([, i]) => i.base || ''), 'meta');
    if (infos.some(([, i]) => i.notes)) row('notes', infos.map(([, i]) => i.notes || ''), 'meta notes');
    const flat = infos.map(([, i]) => new Map(flattenConfig(i.config)));
    const keys = [...new Set(flat.flatMap((m) => [...m.keys()]))].sort();
    for (const k of keys.slice(0, MAX_ROWS)) row(k, flat.map((m) => (m.has(k) ? m.get(k) : '')));
    const table = el('table', { class: 'run-info-table' }, el('thead', null, head), el('tbody', null, ...rows));
    const kids = [table];
    if (keys.length > MAX_ROWS) kids.push(el('p', { class: 'muted', text: `${keys.length - MAX_ROWS} more config keys not shown (GET /api/run?run=NAME has them all)` }));
    if (!keys.length) kids.push(el('p', { class: 'muted', text: 'No config stored for these runs (Monitor(config={...}) stores one).' }));
    this.body.replaceChildren(...kids);
  }
}
