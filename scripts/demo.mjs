#!/usr/bin/env node
// The README's main job: optimize the bundled code-analysis workflow end to end. The Elixir
// app (elixir_client) starts the sidecar under its supervisor, `mix dspy.optimize` runs the
// optimizer in the sidecar and every candidate through the Elixir executor, then writes the
// optimized YAML. Offline (deterministic) unless ANTHROPIC_API_KEY is set: then Claude.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
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
const env = { ...process.env, MIX_ENV: process.env.MIX_ENV ?? 'dev' };
const r = spawnSync('mix', args, { cwd: join(root, 'elixir_client'), stdio: 'inherit', env });
if (r.status !== 0) process.exit(r.status ?? 1);

const yaml = join(out, 'pipelines', 'optimized', 'code_analysis.yaml');
if (!existsSync(yaml)) {
  // Not an error: a run whose lift is not above noise (or was cut short) writes no config; the
  // verdict above says why. --write-anyway writes it regardless.
  process.stdout.write(`\nNo optimized config was written (a dry run, or a verdict that found no lift above noise: see above).\n`);
  process.exit(0);
}
process.stdout.write(`\nOptimized pipeline: ${relative(process.cwd(), yaml)}\n`);
process.stdout.write(`Program (instructions + demos): ${relative(process.cwd(), join(out, 'optimized_modules', 'code_analysis.json'))}\n`);
