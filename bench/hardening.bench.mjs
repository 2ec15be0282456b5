#!/usr/bin/env node
// Issue #12's attacks, measured against baselines taken in this same run:
// - backpressure: peak sidecar RSS while a peer floods pings (10 KB ids) and never reads,
//   with the default stdout bound vs the bound disabled (the pre-fix behaviour);
// - watchdog: time from stdin EOF to exit while a 40 MB pipeline YAML is being parsed, vs an
//   idle sidecar;
// - alias bomb: time to refuse the 9^8 "billion laughs" file vs loading a small valid pipeline.
// Needs `npm run build` first (`npm run bench` does it). HARDENING_BENCH_FLOOD_MS sets the
// flood length (default 5000 ms).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli.js');
if (!existsSync(cli)) {
  console.error('dist/cli.js is missing: run `npm run build` (or `npm run bench`) first');
  process.exit(1);
}
const FLOOD_MS = Number(process.env.HARDENING_BENCH_FLOOD_MS ?? 5000);
const frame = (v) => {
  const body = Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
};
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const sidecar = (env = {}) => {
  const c = spawn(process.execPath, [cli, 'serve'], { cwd: root, env: { ...process.env, ELEXIRION_LOG_LEVEL: 'silent', ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
  c.stdin.on('error', () => {});
  return c;
};
const exited = (c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)));

async function floodPeak(env) {
  const c = sidecar(env);
  c.stdout.pause();
  const big = 'i'.repeat(10 * 1024);
  let peak = 0;
  let n = 0;
  const t0 = performance.now();
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(c.pid))), 100);
  while (performance.now() - t0 < FLOOD_MS) {
    const burst = Buffer.concat(Array.from({ length: 64 }, () => frame({ jsonrpc: '2.0', id: `${big}${n++}`, method: 'ping' })));
    if (!c.stdin.write(burst)) await new Promise((r) => setTimeout(r, 50));
  }
  clearInterval(sampler);
  c.kill('SIGKILL');
  await exited(c);
  return peak / 1024;
}

function rpc(c) {
  let buf = Buffer.alloc(0);
  const waiters = new Map();
  c.stdout.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const msg = JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)).toString());
      buf = buf.subarray(4 + buf.readUInt32BE(0));
      waiters.get(msg.id)?.(msg);
    }
  });
  let id = 0;
  return (method, params) =>
    new Promise((r) => {
      const my = ++id;
      waiters.set(my, r);
      c.stdin.write(frame({ jsonrpc: '2.0', id: my, method, params }));
    });
}

async function eofLatency(busyYaml) {
  const c = sidecar({ ELEXIRION_MAX_YAML_BYTES: String(64 << 20), ELEXIRION_MAX_YAML_EXPANDED_BYTES: String(256 << 20) });
  const call = rpc(c);
  await call('initialize', { protocolVersion: '1.0', clientInfo: { name: 'bench' } });
  const data = join(root, 'examples/code_analysis/training_data');
  const evaluate = (path) => call('evaluate', { pipeline: { path }, trainingData: { dir: data }, lm: 'offline', outDir: join(tmpdir(), 'hardening-bench-out') });
  await evaluate('/nonexistent.yaml'); // warm up the lazy modules
  if (busyYaml) {
    void evaluate(busyYaml);
    await new Promise((r) => setTimeout(r, 600));
  }
  const t0 = performance.now();
  c.stdin.end();
  await exited(c);
  return performance.now() - t0;
}

async function refusalMs(path, runs = 5) {
  const c = sidecar();
  const call = rpc(c);
  await call('initialize', { protocolVersion: '1.0', clientInfo: { name: 'bench' } });
  // No training data: a valid pipeline is loaded, then the run stops (nothing to evaluate).
  const params = { pipeline: { path }, trainingData: { dir: join(tmpdir(), 'no-such-training-dir') }, lm: 'offline', outDir: join(tmpdir(), 'hardening-bench-out') };
  await call('evaluate', params);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await call('evaluate', params);
    times.push(performance.now() - t0);
  }
  c.stdin.end();
  await exited(c);
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

const dir = mkdtempSync(join(tmpdir(), 'hardening-bench-'));
try {
  const bounded = await floodPeak({});
  const unbounded = await floodPeak({ ELEXIRION_MAX_STDOUT_BUFFER_BYTES: String(2 ** 50) });
  console.log(`backpressure: peak RSS over a ${FLOOD_MS} ms flood: bounded ${bounded.toFixed(1)} MB, unbounded (baseline) ${unbounded.toFixed(1)} MB, ratio ${(bounded / unbounded).toFixed(3)}`);

  const big = join(dir, 'big.yaml');
  const parts = ['workflow:\n  name: big\n  steps:\n'];
  for (let i = 0, size = 0; size < 40 << 20; i++) {
    const p = `    - name: s${i}\n      type: claude\n      prompt:\n        - type: static\n          content: "prompt ${i} ${'w'.repeat(60)}"\n`;
    parts.push(p);
    size += p.length;
  }
  writeFileSync(big, parts.join(''));
  const idle = await eofLatency(undefined);
  const busy = await eofLatency(big);
  console.log(`watchdog: exit after stdin EOF: idle (baseline) ${idle.toFixed(0)} ms, parsing 40 MB YAML ${busy.toFixed(0)} ms, ratio ${(busy / idle).toFixed(2)} (promise: < 1000 ms)`);

  const levels = 9;
  let bomb = 'workflow:\n  name: bomb\n  steps:\n    - name: s\n      type: claude\n      prompt:\n        - type: static\n          content: hi\n  x_bomb:\n';
  bomb += `    l0: &l0 [${Array(9).fill('"lol"').join(',')}]\n`;
  for (let i = 1; i < levels; i++) bomb += `    l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(',')}]\n`;
  writeFileSync(join(dir, 'bomb.yaml'), bomb);
  writeFileSync(join(dir, 'small.yaml'), readFileSync(join(root, 'examples/code_analysis/pipeline.yaml')));
  const bombMs = await refusalMs(join(dir, 'bomb.yaml'));
  const smallMs = await refusalMs(join(dir, 'small.yaml'));
  console.log(`alias bomb (${bomb.length} bytes, 9^8 expansion): answered -32012 in ${bombMs.toFixed(1)} ms (median); a small valid pipeline (baseline) in ${smallMs.toFixed(1)} ms, ratio ${(bombMs / smallMs).toFixed(2)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
