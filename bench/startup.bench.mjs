#!/usr/bin/env node
// Sidecar cold start: spawn -> `initialize` reply, wall time and the sidecar's own CPU time
// (user + system, read from /proc when the reply arrives). Three ways to start, each measured
// in this run, interleaved so machine load falls on all of them alike:
//   - floor: a bare `node` that answers the first frame (what any Node process costs);
//   - modules: the sidecar from tsc's unbundled modules (dist/sidecar/serve_command.js);
//   - bundled: `dist/cli.js serve`, the CLI as shipped (bundled into dist/bin/ by scripts/build.mjs).
// Every sidecar an Elixir app or a test suite starts pays this. Needs `npm run build`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli.js');
const serveModule = join(root, 'dist', 'sidecar', 'serve_command.js');
if (!existsSync(cli) || !existsSync(serveModule)) {
  console.error('dist/ is missing: run `npm run build` (or `npm run bench`) first');
  process.exit(1);
}
const RUNS = Number(process.env.STARTUP_BENCH_RUNS ?? 15);
const TICK = 100; // clock ticks per second (USER_HZ), as on every Linux this runs on

const floorScript = `process.stdin.once('data', () => { const b = Buffer.from('{"jsonrpc":"2.0","id":1,"result":{}}'); const h = Buffer.alloc(4); h.writeUInt32BE(b.length); process.stdout.write(Buffer.concat([h, b])); }); process.stdin.resume();`;
const modulesScript = `const { command } = await import(${JSON.stringify(pathToFileURL(serveModule).href)}); await command.run([]);`;
const ways = {
  floor: ['-e', floorScript],
  modules: ['--input-type=module', '-e', modulesScript],
  bundled: [cli, 'serve'],
};

function cpuSeconds(pid) {
  // /proc/<pid>/stat: utime and stime are fields 14 and 15, counted after the command name.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK;
}

function startOnce(args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, ELEXIRION_LOG_LEVEL: 'warn' } });
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '1.0', clientInfo: { name: 'startup-bench' } } }));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    child.stdin.write(Buffer.concat([header, body]));
    let sample;
    child.stdout.once('data', (chunk) => {
      const wallMs = performance.now() - t0;
      const reply = chunk.subarray(4).toString('utf8');
      if (!reply.includes('"result"')) reject(new Error(`no initialize result: ${reply.slice(0, 200)}`));
      sample = { wallMs, cpuS: cpuSeconds(child.pid) };
      child.stdin.end();
    });
    child.once('error', reject);
    child.once('exit', (code) => (sample ? resolve(sample) : reject(new Error(`exited with ${code} before replying`))));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 0) => n.toFixed(d);

const samples = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (const k of Object.keys(ways)) await startOnce(ways[k]); // warm the file cache
for (let i = 0; i < RUNS; i++) for (const [k, args] of Object.entries(ways)) samples[k].push(await startOnce(args));

console.log(`machine: ${cpus().length} cores, load average ${fmt(loadavg()[0], 2)} at start; median of ${RUNS} starts each`);
const row = (k) => {
  const wall = median(samples[k].map((s) => s.wallMs));
  const cpu = median(samples[k].map((s) => s.cpuS)) * 1000;
  return { wall, cpu };
};
const r = Object.fromEntries(Object.keys(ways).map((k) => [k, row(k)]));
for (const k of Object.keys(ways)) console.log(`  ${k.padEnd(8)} reply in ${fmt(r[k].wall).padStart(4)} ms wall, ${fmt(r[k].cpu).padStart(4)} ms CPU`);
const over = (k) => ({ wall: r[k].wall - r.floor.wall, cpu: r[k].cpu - r.floor.cpu });
console.log(`bundled / modules: ${fmt(r.bundled.wall / r.modules.wall, 2)}x wall, ${fmt(r.bundled.cpu / r.modules.cpu, 2)}x CPU`);
console.log(
  `above a bare node: modules +${fmt(over('modules').wall)} ms wall / +${fmt(over('modules').cpu)} ms CPU, bundled +${fmt(over('bundled').wall)} ms wall / +${fmt(over('bundled').cpu)} ms CPU`,
);
