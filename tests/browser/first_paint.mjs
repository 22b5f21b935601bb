// first_paint.mjs URL: loads the dashboard in a fresh chromium profile and
// prints, as one JSON line, how long after navigation the first panel was
// drawn with data (paint_ms) and how long its slowest /api/series request
// took (series_ms). Used by tests/bench/bench_http_series.py.
import { launch } from './browser.mjs';

const url = process.argv[2];
const { ctx, close } = await launch({ width: 1440, height: 900 });
try {
  const page = await ctx.newPage();
  await page.goto(url);
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll('.panel tr[data-step]');
    return rows.length > 0;
  }, null, { timeout: 60000, polling: 10 });
  const res = await page.evaluate(() => ({
    paint_ms: performance.now(),
    series_ms: Math.max(0, ...performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/api/series'))
      .map((e) => e.responseEnd - e.startTime)),
  }));
  console.log(JSON.stringify(res));
} finally {
  await close();
}
