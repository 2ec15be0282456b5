#!/usr/bin/env node
// `npm test`: the build, the type-check, the API reference check (typedoc), vitest, and mix
// test in elixir_client/.
//
// Why a script rather than `a && b && c && d`: tsc is single-threaded and mix test spends most
// of its wall time waiting on sidecars and sleeping executors, so on a 2-core machine running
// them one after another leaves a core idle for most of the run. Here the build, the type-check
// and typedoc run side by side, then vitest and mix test do. One job's output streams live; the
// other's is held and printed whole when the live one is done, so two reporters never
// interleave. The exit status is non-zero when any job failed; every job is reported.
//
// Flags: --ts-only (skip mix test), --mix-only (skip vitest). Extra arguments go to vitest.
import { spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const tsOnly = args.includes('--ts-only');
const mixOnly = args.includes('--mix-only');
const vitestArgs = args.filter((a) => a !== '--ts-only' && a !== '--mix-only');
const node = process.execPath;
const bin = (pkg, file) => join(root, 'node_modules', pkg, file);

// Told to stop (Ctrl-C, or SIGTERM from CI): stop the jobs too, rather than leave a mix test
// or a vitest running with nobody reading its output.
const children = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const child of children) child.kill('SIGTERM');
    process.exit(130);
  });
}

/** Starts a job; its output is streamed when `live`, else held until `flush()`. */
function start(name, cmd, argv, { cwd = root, live = false } = {}) {
  const held = [];
  let streaming = live;
  const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const forward = (stream, out) =>
    stream.on('data', (chunk) => (streaming ? out.write(chunk) : held.push([out, chunk])));
  forward(child.stdout, process.stdout);
  forward(child.stderr, process.stderr);
  const done = new Promise((resolve) => {
    child.on('error', (err) => {
      held.push([process.stderr, Buffer.from(`${name}: ${err.message}\n`)]);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  return {
    name,
    done,
    /** Prints what was held and streams from now on. */
    flush() {
      for (const [out, chunk] of held.splice(0)) out.write(chunk);
      streaming = true;
    },
  };
}

async function runSideBySide(jobs) {
  const failed = [];
  for (const job of jobs) {
    job.flush();
    const code = await job.done;
    if (code !== 0) failed.push(`${job.name} (exit ${code})`);
  }
  return failed;
}


const failures = [];
process.stdout.write('--- build, type-check, and the API reference check (TSDoc on every exported name)\n');
failures.push(
  ...(await runSideBySide([
    start('build', node, [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.build.json'], { live: true }),
    start('type-check', node, [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json', '--noEmit']),
    start('docs:check', node, [bin('typedoc', 'bin/typedoc'), '--emit', 'none']),
  ])),
);
if (failures.some((f) => f.startsWith('build'))) {
  process.stderr.write(`npm test: the build failed; the suites need dist/\n`);
  process.exit(1);
}
chmodSync(join(root, 'dist', 'cli.js'), 0o755);

const suites = [];
if (!mixOnly) suites.push(start('vitest', node, [bin('vitest', 'vitest.mjs'), 'run', ...vitestArgs], { live: true }));
if (!tsOnly) {
  process.stdout.write('--- vitest and mix test run side by side; mix test\'s output follows vitest\'s\n');
  suites.push(start('mix test', 'mix', ['test'], { cwd: join(root, 'elixir_client') }));
}
failures.push(...(await runSideBySide(suites)));

if (failures.length > 0) {
  process.stderr.write(`\nnpm test: FAILED: ${failures.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write('\nnpm test: type-check, build, vitest and mix test all passed\n');
