// format.js: numbers, steps and times as people read them.

// A metric value: 6 significant digits, exponent form when very large or
// small, a real minus sign.
export function fmtValue(v) {
  if (v == null || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  let s;
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) s = v.toExponential(5);
  else s = String(Number(v.toPrecision(6)));
  return s.replace('-', '−');
}

// Parses what fmtValue printed (for tests and copy/paste).
export function parseValue(s) {
  return Number(String(s).replace('−', '-'));
}

// Steps: 1234567 -> "1.23M" on axes, exact with thin spaces in the legend.
export function fmtStepShort(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return +(v / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return +(v / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return +(v / 1e3).toFixed(1) + 'k';
  return String(Math.round(v));
}

export function fmtStep(v) {
  return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
}

export function fmtAgo(seconds) {
  if (!Number.isFinite(seconds)) return 'never';
  if (seconds < 0) seconds = 0;
  if (seconds < 60) return Math.floor(seconds) + ' s ago';
  if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago';
  if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ago';
  return Math.floor(seconds / 86400) + ' d ago';
}

// Times: one format everywhere, local time, 24 h: "2026-12-04 17:06:43".
// Where the date is known from context (axis ticks after the first, the
// status line) only its time part is shown, "17:06:43".
export function fmtTime(t) {
  if (!Number.isFinite(t)) return '—';
  const d = new Date(t * 1000);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtClock(t) {
  return Number.isFinite(t) ? fmtTime(t).slice(11) : '—';
}

// Wall-time axis ticks (Unix seconds): the time of day, with the date on a
// second line at the first tick and wherever the day changes.
export function fmtTimeTicks(splits) {
  let day = null;
  return splits.map((v) => {
    if (v == null || !Number.isFinite(v)) return '';
    const s = fmtTime(v);
    const d = s.slice(0, 10);
    const label = d === day ? s.slice(11) : `${s.slice(11)}\n${d}`;
    day = d;
    return label;
  });
}

// A CSV text cell (RFC 4180 quoting). A leading = + - @ TAB or CR would make
// a spreadsheet run the cell as a formula: an apostrophe keeps it text, as
// the server's CSV does (daemon/strbuf.c, strbuf_csv_str).
export function csvText(s0) {
  const s = /^[=+\-@\t\r]/.test(s0) ? "'" + s0 : s0;
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
