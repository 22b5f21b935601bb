// api.js: the daemon's JSON API (README "HTTP API"), with a small limit on
// requests in flight so that 50 runs x 8 panels queue instead of flooding
// the daemon's thread pool, and the first panel's requests go first.

const MAX_IN_FLIGHT = 6;
let inFlight = 0;
const waiting = [];

function pump() {
  while (inFlight < MAX_IN_FLIGHT && waiting.length) {
    const job = waiting.shift();
    inFlight++;
    job().finally(() => {
      inFlight--;
      pump();
    });
  }
}

function queued(fn) {
  return new Promise((resolve, reject) => {
    waiting.push(() => fn().then(resolve, reject));
    pump();
  });
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function getJSON(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) for (const x of v) q.append(k, String(x)); // run=a&run=b
    else if (v != null) q.set(k, String(v));
  }
  const url = path + (q.toString() ? '?' + q : '');
  const r = await fetch(url, { cache: 'no-store' });
  let body = null;
  try {
    body = await r.json();
  } catch (e) {
    body = null;
  }
  if (!r.ok) throw new ApiError(r.status, (body && body.error) || `${url}: HTTP ${r.status}`);
  return body;
}

// GET /api/runs with its filters (README "HTTP API"): limit, offset, q (a
// part of the name), run and id (arrays: exactly these), since (Unix s).
// The answer also has total (runs matching but for since/limit/offset) and
// epoch (changes when a run is deleted or renamed).
export function getRuns(params) {
  return getJSON('/api/runs', params);
}

// One series window. after/before are exclusive step bounds (null: open).
export function getSeries({ run, tag, metric, after, before, points, time }) {
  return queued(() =>
    getJSON('/api/series', { run, tag, metric, after, before, points, time: time ? 1 : null }),
  );
}

// One run with its config, notes and launches (GET /api/run, README).
export function getRun(run) {
  return getJSON('/api/run', { run });
}

// Alerts that are firing now (GET /api/alerts, see README). A daemon
// without alerting answers 404; the caller then stops asking.
export function getFiringAlerts() {
  return getJSON('/api/alerts', { state: 'firing' });
}

export function getSpectrum({ run, tag, after, before, points }) {
  return queued(() => getJSON('/api/spectrum', { run, tag, after, before, points }));
}
