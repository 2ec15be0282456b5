#!/usr/bin/env node
// GEPA against MIPROv2 on a task with a known optimum where the instruction matters
// (bench/support/rules_task.mjs): 6 categories, each with a hidden rule; the task LM is right
// on a category exactly when its prompt teaches the rule (in the instruction, or by a demo).
// The optimum is 100.
//
// For each optimizer and seed: the LM calls sent (task + proposal/reflection) until the best
// validation score first reached 90% of the optimum, the calls until its own final best, and
// that best. Target (issue #14): GEPA reaches at least 95% of the optimum with no more LM calls
// than MIPROv2 needs to reach its own best. Same data, same LMs, measured in this run.
// Imports the compiled code: run through `npm run bench` (which builds first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rulesData, rulesMetric, rulesPromptLM, rulesTaskLM } from './support/rules_task.mjs';

process.env.ELEXIRION_LOG_LEVEL ??= 'error';
if (!existsSync(fileURLToPath(new URL('../dist/optimizers/index.js', import.meta.url)))) {
  console.error('dist/ is missing: run `npm run bench` (it builds first) or `npm run build`.');
  process.exit(1);
}
const { Example, Module, Predict, settings } = await import('../dist/dspy/index.js');
const { ManagedLM } = await import('../dist/lm/managed.js');
const { GEPA, MIPROv2 } = await import('../dist/optimizers/index.js');

const CATEGORIES = 6;
const OPTIMUM = 100;
const trainset = rulesData(60, { categories: CATEGORIES }).map((d) => new Example(d).withInputs('question'));
const valset = rulesData(60, { categories: CATEGORIES, offset: 1000 }).map((d) => new Example(d).withInputs('question'));

class Solve extends Module {
  solve = new Predict('question -> answer');
  forward(inputs) {
    return this.solve.call(inputs);
  }
}

async function run(name, seed) {
  const counter = { calls: 0 };
  const task = new ManagedLM(rulesTaskLM({ onCall: () => (counter.calls += 1) }), { cache: false });
  const prompt = new ManagedLM(rulesPromptLM({ onCall: () => (counter.calls += 1) }), { cache: false });
  settings.reset();
  settings.configure({ lm: task });
  const trajectory = [];
  const onProgress = (e) => {
    if (typeof e.bestScore === 'number') trajectory.push({ calls: counter.calls, best: e.bestScore });
  };
  const optimizer =
    name === 'GEPA'
      ? new GEPA({ auto: 'light', reflectionLm: prompt })
      : new MIPROv2({ auto: 'light', promptModel: prompt, taskModel: task });
  const started = performance.now();
  const r = await optimizer.compile(new Solve(), { trainset, valset, metric: rulesMetric, seed, concurrency: 8, onProgress });
  const wallMs = performance.now() - started;
  const best = r.report.bestScore ?? 0;
  const reach = (target) => trajectory.find((t) => t.best >= target)?.calls;
  return { name, seed, best, total: counter.calls, to90: reach(0.9 * OPTIMUM), toBest: reach(best), wallMs };
}

const seeds = [1, 2, 3];
const rows = [];
for (const seed of seeds) for (const name of ['MIPROv2', 'GEPA']) rows.push(await run(name, seed));

const fmt = (v) => (v === undefined ? 'never' : String(v));
process.stdout.write(`rules task: ${CATEGORIES} categories, ${trainset.length} train / ${valset.length} val, optimum ${OPTIMUM}; auto: light for both\n`);
process.stdout.write('optimizer  seed  best  LM calls to 90%  to own best  total calls  wall ms\n');
for (const r of rows) {
  process.stdout.write(
    `${r.name.padEnd(9)}  ${String(r.seed).padStart(4)}  ${String(r.best).padStart(4)}  ${fmt(r.to90).padStart(15)}  ${fmt(r.toBest).padStart(11)}  ${String(r.total).padStart(11)}  ${r.wallMs.toFixed(0).padStart(7)}\n`,
  );
}
let met = 0;
for (const seed of seeds) {
  const g = rows.find((r) => r.name === 'GEPA' && r.seed === seed);
  const m = rows.find((r) => r.name === 'MIPROv2' && r.seed === seed);
  const gReach95 = g.best >= 0.95 * OPTIMUM;
  const ratio = g.toBest !== undefined && m.toBest ? g.toBest / m.toBest : undefined;
  const ok = gReach95 && ratio !== undefined && ratio <= 1;
  if (ok) met += 1;
  process.stdout.write(
    `seed ${seed}: GEPA best ${g.best} (${gReach95 ? '>=' : '<'} 95% of optimum) after ${fmt(g.toBest)} calls; MIPROv2 best ${m.best} after ${fmt(m.toBest)} calls; ratio ${ratio === undefined ? 'n/a' : ratio.toFixed(2)}x: ${ok ? 'met' : 'MISSED'}\n`,
  );
}
process.stdout.write(`target (GEPA >= 95% of optimum with no more LM calls than MIPROv2 to its best): ${met}/${seeds.length} seeds\n`);
