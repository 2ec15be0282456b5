#!/usr/bin/env node
// Continuous-learning ingest path: telemetry/events frames (JSON text, 100 events each, as the
// Elixir forwarder batches them) -> JSON.parse -> ContinuousLearner.ingest (zod validation,
// mapping, quality score) -> execution store (framing, CRC-32, group-commit fsync).
// Targets: >= 150,000 events/s sustained; peak RSS < 200 MB while ingesting 1,000,000 events.
// Baseline in the same run: JSON.parse of the same frames + raw append of their bytes to a file.
// The end-to-end figure from Elixir over the Port is measured elsewhere (the lead's wiring).
import { mkdtempSync, rmSync, openSync, writeSync, fsyncSync, closeSync, existsSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const distIndex = join(here, '..', 'dist', 'learning', 'index.js');
if (!existsSync(distIndex)) {
  console.error(`${distIndex} missing: run \`npm run build\` (npm run bench does)`);
  process.exit(1);
}
const { ContinuousLearner } = await import(pathToFileURL(distIndex).href);

const TOTAL = Number(process.env.LEARNING_BENCH_EVENTS ?? 1_000_000);
const PER_BATCH = 100;
const POOL = 100; // distinct frames, reused (keeps the generator out of the RSS figure)

function frame(b) {
  const events = [];
  for (let k = 0; k < PER_BATCH; k++) {
    const i = b * PER_BATCH + k;
    events.push({
      event: ['pipeline', 'execution', 'stop'],
      measurements: { duration_ms: 100 + (i % 900), success: i % 10 !== 0 },
      metadata: {
        pipeline: `pipeline_${i % 5}`,
        execution_id: `exec-${i}`,
        input: { file: `lib/mod_${i % 97}.ex`, language: 'elixir' },
        result: { status: i % 10 ? 'success' : 'error', findings: i % 3 ? ['unused variable', 'missing @doc'] : [] },
      },
      time: 1_760_000_000_000 + i,
    });
  }
  return JSON.stringify({ jsonrpc: '2.0', method: 'telemetry/events', params: { events, dropped: 0 } });
}
const frames = Array.from({ length: POOL }, (_, b) => frame(b));
const frameBytes = frames.reduce((a, f) => a + Buffer.byteLength(f), 0) / POOL;
const batches = Math.ceil(TOTAL / PER_BATCH);
const mb = (b) => (b / 1024 / 1024).toFixed(1);
const yieldNow = () => new Promise((r) => setImmediate(r));

// ---- baseline: parse + raw append of the same bytes -------------------------------------
{
  const dir = mkdtempSync(join(tmpdir(), 'learning-bench-base-'));
  const fd = openSync(join(dir, 'raw.log'), 'a');
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    const f = frames[b % POOL];
    JSON.parse(f);
    writeSync(fd, f);
  }
  fsyncSync(fd);
  const s = (performance.now() - t0) / 1000;
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  globalThis.baselineRate = TOTAL / s;
}

// ---- the store + ingest path ---------------------------------------------------------------
globalThis.gc?.();
const dir = mkdtempSync(join(tmpdir(), 'learning-bench-'));
const learner = await ContinuousLearner.open({
  dataDir: dir,
  exampleSink: { addExample() {} },
  runOptimizer: async () => {
    throw new Error('unused');
  },
  schedule: { daily: null, weekly: null, feedback: null },
});
const rssStart = process.memoryUsage.rss();
let peakRss = rssStart;
let atPeak = process.memoryUsage();
const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) {
    peakRss = rss;
    atPeak = process.memoryUsage();
  }
}, 20);
const queueLimit = 32 * 1024 * 1024;
let yields = 0;
const t0 = performance.now();
for (let b = 0; b < batches; b++) {
  learner.ingest(JSON.parse(frames[b % POOL]).params);
  // let the writer run: a real Port delivers frames between event-loop turns
  if (b % 20 === 19 || learner.store.pendingBytes > queueLimit / 2) {
    yields++;
    await yieldNow();
  }
}
await learner.flush();
const secs = (performance.now() - t0) / 1000;
peakRss = Math.max(peakRss, process.memoryUsage.rss());
clearInterval(sampler);
const st = learner.stats();
const e0 = performance.now();
const report = await learner.exportUsage({ since: '2025-01-01T00:00:00Z', until: '2030-01-01T00:00:00Z' });
const exportSecs = (performance.now() - e0) / 1000;
await learner.close();
rmSync(dir, { recursive: true, force: true });

const rate = TOTAL / secs;
const base = globalThis.baselineRate;
console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`);
console.log(`events: ${TOTAL} in batches of ${PER_BATCH} (frame ~${(frameBytes / 1024).toFixed(1)} KiB)`);
console.log(`baseline (JSON.parse + raw append of the frame bytes): ${Math.round(base).toLocaleString('en')} events/s`);
console.log(`store+ingest (parse, validate, score, frame, CRC, group-commit fsync): ${Math.round(rate).toLocaleString('en')} events/s  (ratio ${(rate / base).toFixed(2)}x of baseline; target >= 150,000/s: ${rate >= 150_000 ? 'MET' : 'MISSED'})`);
console.log(`stored: ${st.store.durable} durable, shed ${st.store.shedRecords}, fsyncs ${st.store.fsyncs}, segments ${st.store.segments}, ${mb(st.store.totalBytes)} MB on disk`);
console.log(`telemetry/export over all ${report.total} records: ${exportSecs.toFixed(2)} s (full scan: the window covers every segment)`);
console.log(`peak RSS while ingesting: ${mb(peakRss)} MB (target < 200 MB: ${peakRss < 200 * 1024 * 1024 ? 'MET' : 'MISSED'}); RSS at the start of this phase ${mb(rssStart)} MB; at the peak: heap used ${mb(atPeak.heapUsed)} / total ${mb(atPeak.heapTotal)} MB, buffers ${mb(atPeak.arrayBuffers)} MB`);
console.log(`process maxRSS (includes the export scan): ${mb(process.resourceUsage().maxRSS * 1024)} MB`);
