#!/usr/bin/env node
// `npm test`: the build, the type-check, the API reference check (typedoc), vitest, and mix
// test in elixir_client/.
//
// Why a script rather than `a && b && c && d`: tsc is single-threaded and mix test spends most
// of its wall time waiting on sidecars and sleeping executors, so on a 2-core machine running
// them one after another leaves a core idle for most of the run. Here the build runs first, and
// only when dist/ is older than src/; then vitest, mix test, the type-check and typedoc run side
// by side. Vitest's output streams live; each other job's is held and printed whole when the
// one before it is done, so two reporters never interleave. The exit status is non-zero when any
// job failed; every job is reported.
//
// Flags: --ts-only (skip mix test), --mix-only (skip vitest). Extra arguments go to vitest.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIsStale } from './build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const tsOnly = args.includes('--ts-only');
const mixOnly = args.includes('--mix-only');
const vitestArgs = args.filter((a) => a !== '--ts-only' && a !== '--mix-only');
const node = process.execPath;
const bin = (pkg, file) => join(root, 'node_modules', pkg, file);
const packageScripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;

/**
 * A package.json script as `npm run` runs it (by the shell, node_modules/.bin on the PATH)
 * without npm's own start-up: package.json stays the one place the command is written.
 */
const npmScript = (name) => ['sh', ['-c', packageScripts[name]], { env: { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH}` } }];

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
function start(name, cmd, argv, { cwd = root, live = false, env = process.env } = {}) {
  const held = [];
  let streaming = live;
  const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env });
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
// Only the build must come first: the integration suites and mix test start dist/cli.js. In CI,
// `npm ci` has just built it (the `prepare` script), so it is not built twice.
if (buildIsStale()) {
  process.stdout.write('--- build (dist/ is older than src/)\n');
  const build = start('build', node, [join(root, 'scripts', 'build.mjs')], { live: true });
  if ((await build.done) !== 0) {
    process.stderr.write('npm test: the build failed; the suites need dist/\n');
    process.exit(1);
  }
} else {
  process.stdout.write('--- dist/ is current: not rebuilt\n');
}

// The type-check and the API reference check (TSDoc on every exported name) are not needed by
// the suites: they run beside them, using the cores the suites leave idle while they wait on
// sidecars, and their output is printed after the suites'. typedoc skips its own type-check
// (typedoc.json `skipErrorChecking`): the build and the type-check report type errors, and it
// halved typedoc's CPU time. It reads the declarations the build just wrote
// (typedoc.check.json, tsconfig.docs.json).
const jobs = [];
if (!mixOnly) jobs.push(start('vitest', node, [bin('vitest', 'vitest.mjs'), 'run', ...vitestArgs], { live: true }));
if (!tsOnly) jobs.push(start('mix test', 'mix', ['test'], { cwd: join(root, 'elixir_client') }));
// `npm run typecheck`: tsc 7 on one thread (`--singleThreaded`): its parallel checkers each redo
// part of the work, which here only takes CPU from the suites (4.6 s of CPU against 2.4 s, the
// same 2 s of wall time alone).
jobs.push(start('type-check', ...npmScript('typecheck')));
jobs.push(start('docs:check', ...npmScript('docs:check')));
process.stdout.write(`--- ${jobs.map((j) => j.name).join(', ')} run side by side; the output of each follows the one before\n`);
failures.push(...(await runSideBySide(jobs)));

if (failures.length > 0) {
  process.stderr.write(`\nnpm test: FAILED: ${failures.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write('\nnpm test: type-check, build, vitest and mix test all passed\n');
