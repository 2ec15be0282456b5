#!/usr/bin/env node
// Continuous-learning ingest path: telemetry/events frames (JSON text, 100 events each, as the
// Elixir forwarder batches them) -> JSON.parse -> ContinuousLearner.ingest (zod validation,
// mapping, quality score) -> execution store (framing, CRC-32, group-commit fsync).
// Targets: >= 150,000 events/s sustained; peak RSS < 200 MB while ingesting 1,000,000 events.
// Baseline in the same run: JSON.parse of the same frames + raw append of their bytes to a file.
// Then the same frames over the wire into a real sidecar process (`elexirion serve`, packet4 on
// stdin, as the Port delivers them): sustained events/s into the store (the clock stops at the
// `telemetry/flush` reply) and the sidecar's peak RSS (VmHWM of the child) over 1,000,000 events.
import { mkdtempSync, rmSync, openSync, writeSync, fsyncSync, closeSync, existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
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

// ---- over the wire: a real sidecar process fed telemetry/events frames on stdin -------------
{
  const cli = join(here, '..', 'dist', 'cli.js');
  const wireDir = mkdtempSync(join(tmpdir(), 'learning-bench-wire-'));
  const child = spawn(process.execPath, [cli, 'serve', '--data-dir', wireDir, '--log-level', 'warn'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const packet = (body) => {
    const b = Buffer.from(body, 'utf8');
    const h = Buffer.alloc(4);
    h.writeUInt32BE(b.length);
    return Buffer.concat([h, b]);
  };
  // replies (packet4) by id
  let buf = Buffer.alloc(0);
  const waiting = new Map();
  child.stdout.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const n = buf.readUInt32BE(0);
      const msg = JSON.parse(buf.subarray(4, 4 + n).toString('utf8'));
      buf = buf.subarray(4 + n);
      if (msg.id !== undefined && waiting.has(msg.id)) {
        waiting.get(msg.id)(msg);
        waiting.delete(msg.id);
      }
    }
  });
  let nextId = 1;
  const request = (method, params) =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      child.stdin.write(packet(JSON.stringify({ jsonrpc: '2.0', id, method, params })));
    });
  const vm = (key) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  };
  await request('initialize', { protocolVersion: '1.0', clientInfo: { name: 'bench' } });
  await request('telemetry/export', { since: '1m' }); // opens the store: not part of the rate
  const rssBefore = vm('VmRSS');
  const packets = frames.map(packet);
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    if (!child.stdin.write(packets[b % POOL])) await new Promise((r) => child.stdin.once('drain', r));
  }
  const flushed = await request('telemetry/flush', {});
  const secs = (performance.now() - t0) / 1000;
  const hwm = vm('VmHWM');
  const status = (await request('learning/status', {})).result;
  child.stdin.end();
  await new Promise((r) => child.once('exit', r));
  rmSync(wireDir, { recursive: true, force: true });
  const st = status.stats.store;
  const wireRate = flushed.result.durable / secs;
  console.log(`over the wire (sidecar process, packet4 stdin, ${batches} telemetry/events frames, clock stops at the telemetry/flush reply):`);
  console.log(`  sustained into the store: ${Math.round(wireRate).toLocaleString('en')} events/s durable (${flushed.result.durable} durable, shed ${st.shedRecords}, notification-queue drops n/a: ingestion is synchronous) (ratio ${(wireRate / base).toFixed(2)}x of baseline; target >= 150,000/s: ${wireRate >= 150_000 ? 'MET' : 'MISSED'})`);
  console.log(`  sidecar peak RSS (VmHWM): ${mb(hwm)} MB (target < 200 MB: ${hwm < 200 * 1024 * 1024 ? 'MET' : 'MISSED'}); RSS after initialize + store open ${mb(rssBefore)} MB`);
}
