// app.js: the erwatch dashboard. No framework: the page is a run list, one
// panel per metric (chart.js) and a spectrum heatmap (spectrum.js), all
// driven by one view state that is mirrored in the URL (state.js).
//
// The run list asks only for what it shows: one page of PAGE runs (newest
// first, filtered by name on the daemon) and the selected runs by name, so
// 10,000 runs cost the page what 50 do.
//
// Live updates: GET /api/runs?since=<newest last_seen we hold> once a
// second, which answers only the runs that changed; the page is asked again
// only when one of them belongs in it. When a selected run's tag has a new
// last step, each panel asks only for the points after the last one it
// holds (see the comment at the top of daemon/http.c for why this is
// polling rather than Server-Sent Events). A deleted or renamed run changes
// the list's epoch: the page and the selected runs are then asked again,
// and a selected run that was renamed (same id, same first_seen) stays
// selected under its new name.

import { parseState, stateToSearch, defaultSelection } from './state.js';
import { getRuns, getFiringAlerts } from './api.js';
import { Panel, metricOrder, METRIC_INFO } from './chart.js';
import { SpectrumPanel } from './spectrum.js';
import { RunInfo } from './runinfo.js';
import { runColor } from './colors.js';
import { fmtAgo, fmtStep, fmtTime, fmtClock } from './format.js';
import { el } from './dom.js';

const POLL_MS = 1000;
const LIVE_S = 30;        // a run is live when a batch arrived this recently
const DEFAULT_RUNS = 8;   // selected on first visit: the most recent ones with the tag
const PAGE = 50;          // runs in the list at a time
const SINCE_MAX = PAGE;   // changed runs one poll takes; more: ask everything again
const NAMES_PER_ASK = 50; // run= values per request for the selected runs

const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.state = parseState(location.search);
    this.list = [];            // the page of the run list, most recently seen first
    this.total = 0;            // runs matching the filter (all pages)
    this.byName = new Map();   // run -> its /api/runs entry: the page and the selection
    this.epoch = null;         // /api/runs epoch: changes on delete/rename
    this.since = 0;            // newest last_seen held (for ?since=)
    this.filterTimer = null;
    this.panels = new Map();   // metric -> Panel
    this.seen = new Map();     // "run\0tag" -> last step we loaded up to
    this.runItems = new Map(); // run -> <li>
    this.pollTimer = null;
    this.lastOk = 0;
    this.spectrum = new SpectrumPanel(this);
    this.runInfo = new RunInfo(this);
    this.rewound = false;      // a selected run got a new launch (a resume)
    this.polls = 0;
    this.alerts = [];          // firing alerts (GET /api/alerts?state=firing)
    this.alertsSupported = true;
  }

  alertsOf(run) {
    return this.alerts.filter((a) => a.run === run);
  }

  // ------------------------------------------------------------ state

  saveState() {
    const q = stateToSearch(this.state);
    if (q !== location.search) history.replaceState(null, '', location.pathname + q);
  }

  selectedRuns() {
    return (this.state.runs || []).filter((r) => this.byName.has(r));
  }

  colorOf(run) {
    const i = (this.state.runs || []).indexOf(run);
    return runColor(i < 0 ? 0 : i);
  }

  tagsOf(run) {
    const r = this.byName.get(run);
    return r ? r.tags : [];
  }

  tagInfo(run, tag) {
    return this.tagsOf(run).find((t) => t.tag === tag) || null;
  }

  availableTags() {
    const seen = new Map();
    for (const r of this.selectedRuns()) for (const t of this.tagsOf(r)) seen.set(t.tag, (seen.get(t.tag) || 0) + 1);
    return [...seen.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map((e) => e[0]);
  }

  availableMetrics() {
    const set = new Set();
    for (const r of this.selectedRuns()) {
      const t = this.tagInfo(r, this.state.tag);
      if (t) for (const m of t.metrics) set.add(m);
    }
    return [...set].sort(metricOrder);
  }

  shownMetrics() {
    const avail = this.availableMetrics();
    if (!this.state.metrics) return avail;
    return avail.filter((m) => this.state.metrics.includes(m));
  }

  runsWithMetric(metric) {
    return this.selectedRuns().filter((r) => {
      const t = this.tagInfo(r, this.state.tag);
      return t && t.metrics.includes(metric);
    });
  }

  // ------------------------------------------------------------ start

  async start() {
    this.bindControls();
    try {
      await this.refreshRuns();
    } catch (e) {
      this.setStatus(false, `cannot reach erwatchd: ${e.message}`);
    }
    if (this.state.runs === null) await this.pickDefaultRuns().catch(() => {});
    this.fixTag();
    this.renderControls();
    this.renderRunList();
    this.layout();
    this.saveState();
    this.loadAll();
    this.schedulePoll();
    new ResizeObserver(() => this.onResize()).observe($('panels'));
    window.erwatch = this; // for the browser tests and the curious
  }

  // First visit: the most recent runs that have the tag shown (state.js).
  // From the newest runs of the page, then their details (the page has
  // them, but the selection is asked for by name from now on).
  async pickDefaultRuns() {
    const d = defaultSelection(this.list, this.state.tag, DEFAULT_RUNS);
    this.state.runs = d.runs;
    this.state.tag = d.tag;
    await this.loadSelected();
  }

  fixTag() {
    const tags = this.availableTags();
    if (!tags.includes(this.state.tag)) this.state.tag = tags[0] || this.state.tag || null;
  }

  bindControls() {
    $('tag').addEventListener('change', (e) => {
      this.state.tag = e.target.value;
      this.state.range = null;
      this.saveState();
      this.layout();
      this.loadAll();
    });
    for (const b of document.querySelectorAll('[data-x]')) {
      b.addEventListener('click', () => {
        if (this.state.x === b.dataset.x) return;
        this.state.x = b.dataset.x;
        this.state.range = null; // the window was in the other axis' units
        this.afterAxisChange();
        // wall times are asked for only when drawn (they cost the daemon a
        // column per point): fetch again
        this.loadAll();
      });
    }
    for (const b of document.querySelectorAll('[data-y]')) {
      b.addEventListener('click', () => {
        if (this.state.y === b.dataset.y) return;
        this.state.y = b.dataset.y;
        this.afterAxisChange();
      });
    }
    const sm = $('smooth');
    sm.addEventListener('input', () => {
      this.state.smooth = Number(sm.value);
      $('smooth-val').textContent = this.state.smooth.toFixed(2);
      for (const p of this.panels.values()) p.refresh();
      this.saveState();
    });
    $('reset-zoom').addEventListener('click', () => this.resetZoom());
    $('copy-link').addEventListener('click', async (e) => {
      const b = e.currentTarget;
      try {
        await navigator.clipboard.writeText(location.href);
        b.textContent = 'Copied';
      } catch (err) {
        window.prompt('Copy this link', location.href);
      }
      setTimeout(() => (b.textContent = 'Copy link'), 1500);
    });
    const f = $('filter');
    f.value = this.state.filter;
    f.addEventListener('input', () => {
      this.state.filter = f.value;
      this.state.page = 0;
      this.saveState();
      clearTimeout(this.filterTimer); // the daemon filters: ask once typing pauses
      this.filterTimer = setTimeout(() => this.loadPage().then(() => this.renderRunList()).catch(() => {}), 200);
    });
    for (const [id, d] of [['page-prev', -1], ['page-next', 1]]) {
      $(id).addEventListener('click', () => {
        this.state.page = Math.max(0, this.state.page + d);
        this.saveState();
        this.loadPage().then(() => this.renderRunList()).catch(() => {});
      });
    }
    $('select-shown').addEventListener('click', () => {
      const shown = this.list.map((r) => r.run);
      const cur = this.state.runs || [];
      this.state.runs = cur.concat(shown.filter((r) => !cur.includes(r)));
      this.selectionChanged();
    });
    $('select-none').addEventListener('click', () => {
      this.state.runs = [];
      this.selectionChanged();
    });
  }

  afterAxisChange() {
    this.renderControls();
    this.saveState();
    for (const p of this.panels.values()) p.build();
    this.spectrum.load();
    if (this.state.range) this.zoom(this.state.range);
  }

  renderControls() {
    const s = this.state;
    for (const b of document.querySelectorAll('[data-x]')) b.setAttribute('aria-pressed', String(b.dataset.x === s.x));
    for (const b of document.querySelectorAll('[data-y]')) b.setAttribute('aria-pressed', String(b.dataset.y === s.y));
    $('smooth').value = String(s.smooth);
    $('smooth-val').textContent = s.smooth.toFixed(2);
    $('reset-zoom').disabled = !s.range;
    const tags = this.availableTags();
    const sel = $('tag');
    sel.replaceChildren(...tags.map((t) => el('option', { value: t, text: t })));
    sel.value = s.tag || '';
    sel.disabled = tags.length < 2;
  }

  // ------------------------------------------------------------ runs

  async refreshAlerts() {
    if (!this.alertsSupported) return;
    try {
      const js = await getFiringAlerts();
      const next = (js && js.alerts) || [];
      const key = (l) => l.map((a) => `${a.id}:${a.state}`).join(',');
      const changed = key(next) !== key(this.alerts);
      this.alerts = next;
      if (changed) for (const p of this.panels.values()) if (p.u) p.u.redraw(false, false);
    } catch (e) {
      if (e.status === 404) this.alertsSupported = false;
    }
  }

  // Everything again: the page and the selected runs (at start, and when
  // the epoch says runs were deleted or renamed).
  async refreshRuns() {
    this.refreshAlerts().then(() => this.renderRunList());
    const renamed = await Promise.all([this.loadPage(), this.loadSelected()]);
    this.lastOk = Date.now();
    this.setStatus(true);
    return renamed[1];
  }

  remember(r) {
    // A run resumed by a new launch was rewound: what the panels hold past
    // the resume step is gone from the daemon (poll() loads it again).
    const had = this.byName.get(r.run);
    if (had && had.launch !== r.launch && (this.state.runs || []).includes(r.run)) this.rewound = true;
    this.byName.set(r.run, r);
    if (r.last_seen > this.since) this.since = r.last_seen;
  }

  // The page of the list the user looks at.
  async loadPage() {
    const js = await getRuns({ limit: PAGE, offset: this.state.page * PAGE, q: this.state.filter.trim() || null });
    this.list = js.runs || [];
    this.total = js.total || 0;
    if (this.epoch === null) this.epoch = js.epoch;
    if (!this.list.length && this.state.page > 0 && this.total > 0) {
      this.state.page = Math.floor((this.total - 1) / PAGE); // past the end (runs left)
      this.saveState();
      return this.loadPage();
    }
    const keep = new Set([...this.list.map((r) => r.run), ...(this.state.runs || [])]);
    for (const name of [...this.byName.keys()]) if (!keep.has(name)) this.byName.delete(name);
    for (const r of this.list) this.remember(r);
  }

  // The selected runs, by name and by the ids we knew them by: a run
  // renamed since keeps its place (and colour) under its new name, one
  // deleted leaves the selection. Returns whether the selection changed.
  async loadSelected() {
    const names = this.state.runs || [];
    if (!names.length) return false;
    const ids = names.map((n) => this.byName.get(n)).filter(Boolean);
    const found = new Map();
    for (let i = 0; i < Math.max(names.length, ids.length); i += NAMES_PER_ASK) {
      const js = await getRuns({ run: names.slice(i, i + NAMES_PER_ASK), id: ids.slice(i, i + NAMES_PER_ASK).map((r) => r.id) });
      if (this.epoch === null) this.epoch = js.epoch;
      for (const r of js.runs || []) found.set(r.run, r);
    }
    const byId = new Map([...found.values()].map((r) => [r.id, r]));
    let changed = false;
    const next = [];
    for (const n of names) {
      if (found.has(n)) {
        next.push(n);
        continue;
      }
      const was = this.byName.get(n);
      const now = was && byId.get(was.id);
      changed = true;
      this.byName.delete(n);
      if (now && now.first_seen === was.first_seen && !names.includes(now.run)) next.push(now.run);
    }
    for (const r of found.values()) this.remember(r);
    if (changed) {
      if (this.state.spec && !next.includes(this.state.spec)) this.state.spec = null;
      this.state.runs = next;
    }
    return changed;
  }

  // One live update: the runs that changed since the newest we hold.
  async pollRuns() {
    this.refreshAlerts().then(() => this.renderRunList());
    const js = await getRuns({ since: this.since, limit: SINCE_MAX });
    this.lastOk = Date.now();
    this.setStatus(true);
    if (js.epoch !== this.epoch) {
      // a run was deleted or renamed: what we hold may name it
      this.epoch = js.epoch;
      return this.refreshRuns();
    }
    const f = this.state.filter.trim().toLowerCase();
    const lower = (x) => x.replace(/[A-Z]/g, (c) => c.toLowerCase()); // as SQL LIKE does
    if ((js.runs || []).length >= SINCE_MAX) {
      // more changed than one answer holds: the page and the selection again
      for (const r of js.runs) if (r.last_seen > this.since) this.since = r.last_seen;
      return this.refreshRuns();
    }
    let pageStale = false;
    const since = this.since; // (since= also answers the runs seen at exactly that time)
    for (const r of js.runs || []) {
      const had = this.byName.get(r.run);
      if (had ? had.last_seen === r.last_seen && had.last_step === r.last_step : r.last_seen <= since) continue;
      const selected = (this.state.runs || []).includes(r.run);
      if (selected || had) this.remember(r);
      else if (r.last_seen > this.since) this.since = r.last_seen;
      if (!f || lower(r.run).includes(lower(f))) pageStale = true; // it moves to the top of the list
    }
    if (pageStale) await this.loadPage();
    return false;
  }

  renderRunList() {
    const ul = $('runs');
    const now = Date.now() / 1000;
    const shown = this.list;
    const filtered = !!this.state.filter.trim();
    $('run-count').textContent = this.total || filtered ? `${this.selectedRuns().length} selected of ${this.total}${filtered ? ' matching' : ''}` : '';
    const first = this.state.page * PAGE;
    $('pager').hidden = this.total <= PAGE && this.state.page === 0;
    $('page-info').textContent = shown.length ? `${first + 1}–${first + shown.length} of ${this.total}` : '';
    $('page-prev').disabled = this.state.page === 0;
    $('page-next').disabled = first + shown.length >= this.total;
    const entropy = this.panels.get('er_entropy');
    const items = shown.map((r) => {
      let li = this.runItems.get(r.run);
      if (!li) {
        li = el('li', { 'data-run': r.run });
        const cb = el('input', { type: 'checkbox', 'aria-label': `show ${r.run}` });
        cb.addEventListener('change', () => this.toggleRun(r.run, cb.checked));
        li.append(
          el('label', { class: 'run-row' },
            cb,
            el('span', { class: 'sw' }),
            el('span', { class: 'run-main' },
              el('span', { class: 'run-name', title: r.run, text: r.run }),
              el('span', { class: 'run-meta' }))),
        );
        this.runItems.set(r.run, li);
      }
      const selected = (this.state.runs || []).includes(r.run);
      li.classList.toggle('selected', selected);
      li.querySelector('input').checked = selected;
      li.querySelector('.sw').style.background = selected ? this.colorOf(r.run) : 'transparent';
      const age = now - (r.last_seen || 0);
      const live = age < LIVE_S;
      const meta = li.querySelector('.run-meta');
      const parts = [
        el('span', { class: `pill ${live ? 'live' : 'stale'}`, text: live ? 'live' : 'stale', title: live ? 'a batch arrived in the last 30 s' : 'no batch in the last 30 s' }),
        el('span', { class: 'meta-step', text: r.last_step == null ? 'no step' : `step ${fmtStep(r.last_step)}` }),
        el('span', { class: 'meta-seen', text: fmtAgo(age), title: r.last_seen ? `last batch ${fmtTime(r.last_seen)}` : '' }),
      ];
      for (const a of this.alertsOf(r.run)) {
        parts.push(el('span', { class: 'pill alert', text: `alert: ${a.rule}`, title: `${a.severity}: ${a.summary} (since step ${a.fired_step}, tag ${a.tag}${a.daemon ? `, raised by ${a.daemon}` : ''})` }));
      }
      if (r.dropped > 0) parts.push(el('span', { class: 'pill warn', text: `${r.dropped} dropped`, title: 'batches the client library dropped because the daemon was not keeping up (client-reported)' }));
      const h = selected && entropy ? entropy.health(r.run) : null;
      if (h != null) {
        const pct = Math.max(0, Math.min(100, Math.round(h * 100)));
        const cls = h < 0.25 ? 'bad' : h < 0.6 ? 'mid' : 'good';
        parts.push(el('span', { class: `pill health ${cls}`, text: `H ${pct}%`, title: 'latest ER entropy: 0% = the collapsed level, 100% = spread uniformly over the sphere (the alert rules\' level)' }));
      }
      meta.replaceChildren(...parts);
      li.title = '';
      return li;
    });
    ul.replaceChildren(...items);
    for (const name of [...this.runItems.keys()]) if (!this.byName.has(name)) this.runItems.delete(name);
    if (!shown.length && !filtered) ul.replaceChildren(el('li', { class: 'muted none', text: 'No runs yet.' }));
    else if (!shown.length) ul.replaceChildren(el('li', { class: 'muted none', text: 'No run matches the filter.' }));
  }

  toggleRun(run, on) {
    const cur = (this.state.runs || []).filter((r) => r !== run);
    if (on) cur.push(run);
    this.state.runs = cur;
    this.selectionChanged();
  }

  selectionChanged() {
    this.fixTag();
    this.saveState();
    this.renderControls();
    this.renderRunList();
    this.layout();
    this.loadAll();
  }

  // ------------------------------------------------------------ panels

  layout() {
    const shown = this.shownMetrics();
    for (const [m, p] of this.panels) {
      if (!shown.includes(m)) {
        p.destroy();
        this.panels.delete(m);
      }
    }
    const box = $('panels');
    const created = [];
    for (const m of shown) {
      let p = this.panels.get(m);
      if (!p) {
        p = new Panel(this, m);
        this.panels.set(m, p);
        created.push(p);
      }
      box.append(p.root); // (re)appending keeps the order
    }
    for (const p of created) p.build();
    this.renderChips();
    this.spectrum.syncRuns();
    this.runInfo.sync();
    const empty = $('empty');
    let msg = '';
    if (!this.total && !this.state.filter.trim() && !this.selectedRuns().length) msg = 'No runs yet. Push a batch from a training job (erwatch_push) or with build/erwatch push --run demo --tag projector --step 1 z1.npy z2.npy; it appears here within a second.';
    else if (!this.selectedRuns().length) msg = 'Select one or more runs on the left.';
    else if (!shown.length) msg = 'No metric to show for this tag.';
    empty.textContent = msg;
    empty.hidden = !msg;
    return created;
  }

  renderChips() {
    const box = $('metric-chips');
    const avail = this.availableMetrics();
    const shown = this.shownMetrics();
    box.replaceChildren(...avail.map((m) => {
      const b = el('button', { type: 'button', class: 'chip', 'aria-pressed': String(shown.includes(m)), text: m, title: (METRIC_INFO[m] || {}).title || m });
      b.addEventListener('click', () => {
        const cur = new Set(this.shownMetrics());
        if (cur.has(m)) cur.delete(m);
        else cur.add(m);
        this.state.metrics = cur.size === avail.length ? null : avail.filter((x) => cur.has(x));
        this.saveState();
        const created = this.layout();
        for (const p of created) p.loadFull();
      });
      return b;
    }));
    box.hidden = avail.length === 0;
  }

  loadAll() {
    this.seen.clear();
    for (const r of this.selectedRuns()) {
      const t = this.tagInfo(r, this.state.tag);
      if (t) this.seen.set(r + '\0' + this.state.tag, t.last_step);
    }
    // Panels enqueue their requests in page order, so the first panel
    // paints first.
    const all = [...this.panels.values()].map((p) => p.loadFull());
    Promise.all(all).then(() => {
      this.renderRunList();
      this.spectrum.repick(); // the worst run by entropy is known now
    });
    this.spectrum.load();
  }

  zoom(range) {
    let [lo, hi] = range;
    if (!(hi > lo)) return;
    if (this.state.x === 'step') {
      lo = Math.floor(lo);
      hi = Math.ceil(hi);
      if (hi - lo < 2) hi = lo + 2;
    }
    this.state.range = [lo, hi];
    this.saveState();
    this.renderControls();
    for (const p of this.panels.values()) {
      p.applyX(); // clip what we have at once, detail follows
      p.loadZoom();
    }
    this.spectrum.load();
  }

  resetZoom() {
    if (!this.state.range) return;
    this.state.range = null;
    this.saveState();
    this.renderControls();
    for (const p of this.panels.values()) p.refresh();
    this.spectrum.load();
  }

  onResize() {
    clearTimeout(this.resizeTimer);
    for (const p of this.panels.values()) p.resize();
    this.resizeTimer = setTimeout(() => {
      this.spectrum.draw();
    }, 150);
  }

  // ------------------------------------------------------------ live

  schedulePoll() {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.poll(), POLL_MS);
  }

  async poll() {
    try {
      const before = this.availableMetrics().join('\n');
      const selBefore = (this.state.runs || []).join('\n');
      const renamed = await this.pollRuns();
      this.polls++;
      const newRuns = this.state.runs === null || (this.state.runs.length === 0 && this.list.length && this.polls === 1);
      if (newRuns) await this.pickDefaultRuns();
      if (renamed || newRuns || selBefore !== (this.state.runs || []).join('\n')) {
        // a selected run was deleted or renamed: draw the selection again
        this.selectionChanged();
        this.schedulePoll();
        return;
      }
      const tagBefore = this.state.tag;
      this.fixTag();
      if (this.state.tag !== tagBefore || newRuns) this.renderControls();
      const after = this.availableMetrics().join('\n');
      if (before !== after) {
        const created = this.layout();
        for (const p of created) p.loadFull();
        this.renderControls();
      }
      const tag = this.state.tag;
      this.runInfo.sync();
      if (this.rewound) {
        this.rewound = false;
        this.loadAll();
      }
      for (const run of this.selectedRuns()) {
        const t = this.tagInfo(run, tag);
        if (!t) continue;
        const key = run + '\0' + tag;
        const was = this.seen.get(key);
        if (was === undefined || t.last_step !== was) {
          this.seen.set(key, t.last_step);
          for (const p of this.panels.values()) {
            if (t.metrics.includes(p.metric)) p.appendNew(run).catch(() => {});
          }
          if (this.spectrum.run() === run && !this.state.range) this.spectrum.load();
        }
      }
      this.renderRunList();
    } catch (e) {
      this.setStatus(false, 'connection lost, retrying');
    }
    this.schedulePoll();
  }

  setStatus(ok, text) {
    const s = $('status');
    s.classList.toggle('ok', ok);
    s.classList.toggle('bad', !ok);
    s.querySelector('.txt').textContent = ok ? `live · updated ${fmtClock(Date.now() / 1000)}` : text;
  }
}

const app = new App();
app.start();
