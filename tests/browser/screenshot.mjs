// screenshot.mjs URL OUT.png [WIDTH HEIGHT]: the dashboard as a user first
// sees it, for docs/dashboard.png (tests/browser/make_screenshot.py).
import { launch } from './browser.mjs';

const [url, out, w = '1440', h = '1000'] = process.argv.slice(2);
const { ctx, close } = await launch({ width: Number(w), height: Number(h) });
try {
  const page = await ctx.newPage();
  await page.goto(url);
  await page.waitForFunction(() => {
    const a = window.erwatch;
    return a && a.panels.size > 0 && [...a.panels.values()].every((p) => [...p.runs.values()].every((e) => e.full || e.error))
      && document.getElementById('spectrum').dataset.state;
  }, null, { timeout: 30000 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: out, fullPage: false });
} finally {
  await close();
}
