/**
 * The report in a real browser (Debian's Chromium driven by playwright-core; `.ci/run` installs
 * it): opened with the network disabled, it makes no request, every chart draws pixels, the
 * flipped-examples table and the prompt diff are there. A screenshot is saved in
 * test-output/report.png for people to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/write_report.js';
import { realRun } from './real_run.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) process.stderr.write(`report browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)\n`);

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'report-browser-'));
  await realRun(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasChromium)('report in Chromium', () => {
  it('opens offline, draws every chart, shows the flipped examples and the diff', async () => {
    const { chromium } = await import('playwright-core');
    const out = await writeReport(dir);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext({ offline: true, viewport: { width: 1100, height: 900 } });
      const requests: string[] = [];
      await context.route('**/*', (route) => {
        const url = route.request().url();
        if (url === pathToFileURL(out).href) return route.continue();
        requests.push(url);
        return route.abort();
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(pathToFileURL(out).href);
      // Page functions run in the browser; the project is type-checked without the DOM lib.
      /* eslint-disable @typescript-eslint/no-explicit-any */
      await page.waitForFunction(() => [...(globalThis as any).document.querySelectorAll('.chart')].every((c: any) => c.getAttribute('data-drawn') === 'yes'));
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      const charts = await page.evaluate(() =>
        [...(globalThis as any).document.querySelectorAll('.chart')].map((c: any) => {
          const canvas = c.querySelector('canvas');
          if (!canvas) return { id: c.id, painted: 0 };
          const ctx = canvas.getContext('2d');
          const img = ctx ? ctx.getImageData(0, 0, canvas.width, canvas.height).data : new Uint8ClampedArray();
          let painted = 0;
          for (let i = 3; i < img.length; i += 4) if ((img[i] as number) > 0) painted += 1;
          return { id: c.id, painted };
        }),
      );
      expect(charts.map((c) => c.id).sort()).toEqual(['chart-examples', 'chart-pareto', 'chart-trials', 'chart-usage']);
      for (const c of charts) expect(c.painted, c.id).toBeGreaterThan(200);
      expect(await page.locator('#flipped tbody tr').count()).toBeGreaterThan(0);
      expect(await page.locator('.diff ins').count()).toBeGreaterThan(0);
      const shots = resolve('test-output');
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, 'report.png'), fullPage: true });
      expect(existsSync(join(shots, 'report.png'))).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
