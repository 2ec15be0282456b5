#!/usr/bin/env node
// The HTML report of a run with 1,000 trials (and 2,000 timeline points, 300 held-out
// examples, a 200-candidate front), opened in headless Chromium: time from navigation until
// every chart has drawn, against the report of a 10-trial run measured in the same run.
// Target (issue #17): under 1 s. Needs Debian's chromium (`apt-get install chromium`).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.log(`skipped: no Chromium at ${CHROMIUM}`);
  process.exit(0);
}
const { writeReport } = await import('../dist/report/write_report.js');
const { chromium } = await import('playwright-core');

function record(trials) {
  let s = 1;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const n = Math.min(300, trials * 3);
  return {
    format: 1,
    runId: `bench-${trials}`,
    startedAt: new Date(0).toISOString(),
    settings: { optimizer: 'GEPA', options: { auto: 'heavy' }, seed: 1 },
    trials: Array.from({ length: trials }, (_, i) => ({ trial: i, kind: i % 5 ? 'minibatch' : 'full', score: Math.round(rnd() * 10000) / 100 })),
    timeline: Array.from({ length: Math.min(2000, trials * 2) }, (_, i) => ({ t: i * 50, phase: i % 3 ? 'trial' : 'full_eval', calls: i * 4, costUsd: i * 0.001 })),
    examples: Array.from({ length: n }, (_, i) => ({ id: i, baseline: rnd() > 0.5 ? 1 : 0, best: rnd() > 0.3 ? 1 : 0, input: { q: `question ${i}` } })),
    predictors: [{ path: 'analyze', before: { instructions: 'Analyze the code.', demos: [] }, after: { instructions: 'Analyze the code carefully, listing findings.', demos: [{ code: 'x' }] } }],
    pareto: {
      candidates: Array.from({ length: Math.min(200, trials) }, (_, i) => ({ candidate: i, score: rnd() * 100, costUsd: rnd() / 100, tokens: 1000 + rnd() * 1000 })),
      front: [0, 1, 2],
      selected: 0,
      rule: 'best',
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'report-bench-'));
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const measure = async (trials) => {
    const runDir = join(dir, String(trials));
    (await import('node:fs')).mkdirSync(runDir);
    writeFileSync(join(runDir, 'run.json'), JSON.stringify(record(trials)));
    const out = await writeReport(runDir);
    const times = [];
    for (let i = 0; i < 5; i++) {
      const context = await browser.newContext({ offline: true });
      const page = await context.newPage();
      const t0 = performance.now();
      await page.goto(pathToFileURL(out).href);
      await page.waitForFunction(() => [...document.querySelectorAll('.chart')].every((c) => c.getAttribute('data-drawn') === 'yes'));
      times.push(performance.now() - t0);
      await context.close();
    }
    times.sort((a, b) => a - b);
    return { trials, median: times[2], bytes: (await import('node:fs')).statSync(out).size };
  };
  const small = await measure(10);
  const big = await measure(1000);
  console.log(`report of  10 trials: ${small.median.toFixed(0)} ms to draw (median of 5), ${(small.bytes / 1024).toFixed(0)} KiB`);
  console.log(`report of 1000 trials: ${big.median.toFixed(0)} ms to draw (median of 5), ${(big.bytes / 1024).toFixed(0)} KiB; ${(big.median / small.median).toFixed(2)}x the 10-trial report`);
  console.log(`target < 1000 ms: ${big.median < 1000 ? 'met' : 'MISSED'}`);
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
