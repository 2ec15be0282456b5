#!/usr/bin/env node
// CI wall time against a baseline commit, measured in the same run: `bash .ci/run` (CI=true) on
// a fresh clone of each, the two interleaved so that the machine's state (its page cache, other
// load) falls on both alike. A time measured on another day or machine is not comparable; a
// ratio measured here is.
//
//   node bench/ci_time.mjs [--baseline <rev>] [--runs N]
//
// The default baseline is d570cac, the commit issue #13 ("no slower than today") was filed
// against. Each run clones this repository into a temporary directory, so only committed work
// is measured. Not a *.bench.mjs (npm run bench does not run it): a pair takes over two
// minutes, and each clone runs npm ci.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { baseline: { type: 'string', default: 'd570cac' }, runs: { type: 'string', default: '2' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer (got ${values.runs})`);

const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
const resolve = (rev) => {
  const r = git('rev-parse', '--short', `${rev}^{commit}`);
  if (r.status !== 0) throw new Error(`unknown revision ${rev}: ${r.stderr.trim()}`);
  return r.stdout.trim();
};
const revs = { baseline: resolve(values.baseline), head: resolve('HEAD') };

/** Wall seconds of `.ci/run` on a fresh clone of `rev`; its output goes to a log beside it. */
function ciRun(rev) {
  const dir = mkdtempSync(join(tmpdir(), `ci-time-${rev}-`));
  const clone = join(dir, 'repo');
  if (spawnSync('git', ['clone', '--quiet', root, clone]).status !== 0) throw new Error(`git clone failed for ${rev}`);
  if (spawnSync('git', ['checkout', '--quiet', rev], { cwd: clone }).status !== 0) throw new Error(`git checkout ${rev} failed`);
  const log = join(dir, 'ci.log');
  const fd = openSync(log, 'w');
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const child = spawn('bash', ['.ci/run'], { cwd: clone, stdio: ['ignore', fd, fd], env: { ...process.env, CI: 'true' } });
    child.on('error', fail);
    child.on('close', (code) => {
      closeSync(fd);
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) return fail(new Error(`.ci/run of ${rev} exited with ${code}; log: ${log}`));
      rmSync(dir, { recursive: true, force: true });
      done(seconds);
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const times = { baseline: [], head: [] };
for (let i = 0; i < runs; i++) {
  // Alternating which goes first, so neither always runs on a machine the other just warmed.
  for (const which of i % 2 ? ['head', 'baseline'] : ['baseline', 'head']) {
    const s = await ciRun(revs[which]);
    times[which].push(s);
    console.log(`run ${i + 1}: ${which} (${revs[which]}) ${s.toFixed(1)} s`);
  }
}
const [b, h] = [median(times.baseline), median(times.head)];
console.log(`\nmedian over ${runs} run(s): baseline ${revs.baseline} ${b.toFixed(1)} s, HEAD ${revs.head} ${h.toFixed(1)} s`);
console.log(`HEAD / baseline: ${(h / b).toFixed(3)}x`);
