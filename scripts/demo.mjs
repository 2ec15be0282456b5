#!/usr/bin/env node
// The README's main job: optimize the bundled code-analysis workflow end to end. The Elixir
// app (elixir_client) starts the sidecar under its supervisor, `mix dspy.optimize` runs the
// optimizer in the sidecar and every candidate through the Elixir executor, then writes the
// optimized YAML. Offline (deterministic) unless ANTHROPIC_API_KEY is set: then Claude.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shellQuote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);
// Extra arguments pass through to `mix dspy.optimize`; an `--out DIR` among them wins.
const passThrough = process.argv.slice(2);
const outFlag = passThrough.indexOf('--out');
const out = outFlag >= 0 && passThrough[outFlag + 1] ? resolve(passThrough[outFlag + 1]) : join(root, 'out');
const example = join(root, 'examples', 'code_analysis');

const hasMix = spawnSync('mix', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasMix) {
  process.stderr.write('mix (Elixir) is not installed. On Debian/Ubuntu: sudo apt-get install -y elixir\n');
  process.exit(1);
}

const claude = Boolean(process.env.ANTHROPIC_API_KEY?.trim());
process.stdout.write(
  claude
    ? 'ANTHROPIC_API_KEY is set: optimizing with Claude (this spends money; cap it with --budget-usd).\n'
    : 'No ANTHROPIC_API_KEY: optimizing with the deterministic offline LM. Offline scores show the\n' +
        'machinery working (demos learned from real executions change what the pipeline answers),\n' +
        'not model quality.\n',
);

const args = [
  'dspy.optimize',
  '--pipeline', join(example, 'pipeline.yaml'),
  '--training-data', join(example, 'training_data'),
  ...(outFlag >= 0 ? [] : ['--out', out]),
  '--seed', '42',
  ...(claude ? ['--budget-usd', process.env.ELEXIRION_DEMO_BUDGET_USD ?? '2'] : []),
  ...passThrough.map((a, i) => (i === outFlag + 1 && outFlag >= 0 ? out : a)),
];
// Ctrl-C: on a terminal `mix dspy.optimize` reads it itself (the terminal sends no SIGINT
// while the run lasts). Without one, SIGINT reaches this process (and the BEAM, which cannot
// catch it: +Bi makes it ignore it instead of opening its break menu); forwarded as SIGTERM,
// it cancels the run cleanly, and a second one quits at once. Either way the exit status is
// mix's own: 130 when interrupted, never 0.
const resumeArgs = [];
for (let i = 0; i < passThrough.length; i++) {
  if (passThrough[i] === '--run-id') i++;
  else if (!passThrough[i].startsWith('--run-id=')) resumeArgs.push(passThrough[i]);
}
const env = {
  ...process.env,
  MIX_ENV: process.env.MIX_ENV ?? 'dev',
  ERL_FLAGS: `${process.env.ERL_FLAGS ?? ''} +Bi`.trim(),
  ELEXIRION_RESUME_COMMAND: ['npm run demo --', ...resumeArgs.map(shellQuote)].join(' '),
};
const child = spawn('mix', args, { cwd: join(root, 'elixir_client'), stdio: 'inherit', env });
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts++;
  child.kill('SIGTERM');
});
process.on('SIGTERM', () => child.kill('SIGTERM'));
const status = await new Promise((resolvePromise) => {
  child.on('error', (err) => {
    process.stderr.write(`cannot run mix: ${err.message}\n`);
    resolvePromise(1);
  });
  child.on('exit', (code, signal) => resolvePromise(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
});
if (status !== 0) process.exit(status);
if (interrupts > 0) process.exit(130);
// A dry run or --help writes nothing: mix printed what there is to see.
if (passThrough.some((a) => a === '--dry-run' || a === '--help' || a === '-h')) process.exit(0);

const yaml = join(out, 'pipelines', 'optimized', 'code_analysis.yaml');
if (!existsSync(yaml)) {
  // Not an error: a run whose lift is not above noise (or was cut short) writes no config; the
  // verdict above says why. --write-anyway writes it regardless.
  process.stdout.write(`\nNo optimized config was written (a dry run, or a verdict that found no lift above noise: see above).\n`);
  process.exit(0);
}
process.stdout.write(`\nOptimized pipeline: ${relative(process.cwd(), yaml)}\n`);
process.stdout.write(`Program (instructions + demos): ${relative(process.cwd(), join(out, 'optimized_modules', 'code_analysis.json'))}\n`);
