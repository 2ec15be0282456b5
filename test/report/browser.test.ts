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
import { ROOT } from '../support/build.js';
import { FakeElixir, serveReferenceExecutions } from '../support/fake_elixir.js';
import { realRun } from './real_run.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) process.stderr.write(`report browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)\n`);

// Two real runs: an optimize request through the sidecar (BootstrapFewShot on the shipped
// example, candidates executed the way Elixir's Reference executor does; the report is the one
// the run wrote into its run directory), and an in-process GEPA run on the simulated rules task,
// whose instructions change and which has a quality/cost front.
let dir: string;
let reportPath: string;
let gepaReport: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'report-browser-'));
  const elixir = new FakeElixir();
  serveReferenceExecutions(elixir);
  await elixir.initialize();
  try {
    const r = await elixir.request('optimize', {
      pipeline: { path: join(ROOT, 'examples/code_analysis/pipeline.yaml') },
      trainingData: { dir: join(ROOT, 'examples/code_analysis/training_data') },
      lm: 'offline',
      optimizer: { name: 'BootstrapFewShot', options: { maxBootstrappedDemos: 3 } },
      seed: 7,
      outDir: dir,
    });
    if (r.error) throw new Error(JSON.stringify(r.error));
    reportPath = r.result.reportPath;
  } finally {
    await elixir.close();
  }
  const gepaDir = join(dir, 'gepa');
  await realRun(gepaDir);
  gepaReport = await writeReport(gepaDir);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Seen {
  errors: string[];
  requests: string[];
  charts: Array<{ id: string; painted: number }>;
  flipped: number;
  inserted: number;
  diffs: number;
}

/** Opens a report with the network off and reads what a person would see. */
async function open(browser: import('playwright-core').Browser, file: string, screenshot: string): Promise<Seen> {
  const context = await browser.newContext({ offline: true, viewport: { width: 1100, height: 900 } });
  try {
    const requests: string[] = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url === pathToFileURL(file).href) return route.continue();
      requests.push(url);
      return route.abort();
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(file).href);
    // Page functions run in the browser; the project is type-checked without the DOM lib.
    /* eslint-disable @typescript-eslint/no-explicit-any */
    await page.waitForFunction(() => [...(globalThis as any).document.querySelectorAll('.chart')].every((c: any) => c.getAttribute('data-drawn') === 'yes'));
    const charts = await page.evaluate(() =>
      [...(globalThis as any).document.querySelectorAll('.chart')].map((c: any) => {
        const canvas = c.querySelector('canvas');
        if (!canvas) return { id: c.id as string, painted: 0 };
        const ctx = canvas.getContext('2d');
        const img = ctx ? ctx.getImageData(0, 0, canvas.width, canvas.height).data : new Uint8ClampedArray();
        let painted = 0;
        for (let i = 3; i < img.length; i += 4) if ((img[i] as number) > 0) painted += 1;
        return { id: c.id as string, painted };
      }),
    );
    const shots = resolve('test-output');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, screenshot), fullPage: true });
    return {
      errors,
      requests,
      charts,
      flipped: await page.locator('#flipped tbody tr').count(),
      inserted: await page.locator('.diff ins').count(),
      diffs: await page.locator('.diff').count(),
    };
  } finally {
    await context.close();
  }
}

describe.skipIf(!hasChromium)('report in Chromium', () => {
  it('opens offline, draws every chart, shows the flipped examples and the diff', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      // The sidecar run's own report: three charts (no front for BootstrapFewShot), examples
      // that flipped, each prompt as written (demos learned; the instruction unchanged).
      const run = await open(browser, reportPath, 'report.png');
      expect(run.errors).toEqual([]);
      expect(run.requests).toEqual([]);
      expect(run.charts.map((c) => c.id).sort()).toEqual(['chart-examples', 'chart-trials', 'chart-usage']);
      for (const c of run.charts) expect(c.painted, c.id).toBeGreaterThan(200);
      expect(run.flipped).toBeGreaterThan(0);
      expect(run.diffs).toBeGreaterThan(0);

      // GEPA's: the quality/cost front as well, and an instruction diff with insertions.
      const gepa = await open(browser, gepaReport, 'report-gepa.png');
      expect(gepa.errors).toEqual([]);
      expect(gepa.requests).toEqual([]);
      expect(gepa.charts.map((c) => c.id).sort()).toEqual(['chart-examples', 'chart-pareto', 'chart-trials', 'chart-usage']);
      for (const c of gepa.charts) expect(c.painted, c.id).toBeGreaterThan(200);
      expect(gepa.flipped).toBeGreaterThan(0);
      expect(gepa.inserted).toBeGreaterThan(0);
      expect(existsSync(join(resolve('test-output'), 'report.png'))).toBe(true);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
