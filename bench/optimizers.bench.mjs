#!/usr/bin/env node
// BootstrapFewShot + Evaluate on 200 examples with a 20 ms fixed-latency LM, at concurrency 16
// against (a) the ideal and (b) the same work at concurrency 1, measured in this run.
//
// Workload: the teacher answers 1 example in 40 right (examples 39, 79, 119, 159), so
// BootstrapFewShot (maxBootstrappedDemos 4) must walk 160 examples in trainset order before its
// quota is full; then Evaluate scores the compiled program on all 200 examples.
//
// Ideal: the phases are sequential (Evaluate needs the compiled program) and each LM call takes
// 20 ms, so with 16 calls in flight no schedule beats sum over phases of
// ceil(sequential calls / 16) x 20 ms = (ceil(160/16) + ceil(200/16)) x 20 ms = 460 ms.
// Targets: wall time within 1.15x of the ideal; at least 12x faster than concurrency 1.
// Imports the compiled code: run through `npm run bench` (which builds first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';

// Speculative bootstrap calls cancelled at the quota are logged by the LM layer as failed
// calls (warn); keep the bench output to its figures.
process.env.ELEXIRION_LOG_LEVEL ??= 'error';
const distIndex = fileURLToPath(new URL('../dist/optimizers/index.js', import.meta.url));
if (!existsSync(distIndex)) {
  console.error('dist/ is missing: run `npm run bench` (it builds first) or `npm run build`.');
  process.exit(1);
}
const { Example, Module, Predict, settings } = await import('../dist/dspy/index.js');
const { DummyLM } = await import('../dist/dspy/dummy_lm.js');
const { ManagedLM } = await import('../dist/lm/managed.js');
const { BootstrapFewShot, Evaluate } = await import('../dist/optimizers/index.js');

const N = 200;
const LATENCY = 20;
const CONC = 16;
const q = (i) => `Q${String(i).padStart(3, '0')}?`;
const data = Array.from({ length: N }, (_, i) => new Example({ question: q(i), answer: `A${i}` }).withInputs('question'));

class QA extends Module {
  predict = new Predict('question -> answer');
  forward(inputs) {
    return this.predict.call(inputs);
  }
}

function lms() {
  const teacherTable = {};
  const taskTable = {};
  for (let i = 0; i < N; i++) {
    teacherTable[q(i)] = { answer: i % 40 === 39 ? `A${i}` : `unsure` };
    taskTable[q(i)] = { answer: `A${i}` };
  }
  const teacherDummy = DummyLM.bySubstring(teacherTable, { latencyMs: LATENCY, historyLimit: 0 });
  const taskDummy = DummyLM.bySubstring(taskTable, { latencyMs: LATENCY, historyLimit: 0 });
  return {
    teacherDummy,
    taskDummy,
    teacher: new ManagedLM(teacherDummy, { cache: false }),
    task: new ManagedLM(taskDummy, { cache: false }),
  };
}

const metric = (ex, pred) => pred.get('answer') === ex.get('answer');

async function run(concurrency) {
  const l = lms();
  const teacher = new QA();
  teacher.setLM(l.teacher);
  settings.configure({ lm: l.task });
  const t0 = performance.now();
  const { program, report } = await new BootstrapFewShot({ maxBootstrappedDemos: 4, maxLabeledDemos: 8 }).compile(new QA(), {
    trainset: data,
    teacher,
    metric,
    concurrency,
    seed: 0,
  });
  const t1 = performance.now();
  const ev = await new Evaluate({ devset: data, metric, concurrency }).run(program);
  const t2 = performance.now();
  return {
    bootstrapMs: t1 - t0,
    evaluateMs: t2 - t1,
    totalMs: t2 - t0,
    bootstrapCalls: l.teacherDummy.calls,
    evaluateCalls: l.taskDummy.calls,
    bootstrapped: report.bootstrapped,
    score: ev.score,
    demos: program.predict.demos.map((d) => d.get('question')).slice(0, 4).join(','),
  };
}

const fmt = (ms) => `${ms.toFixed(0)} ms`;
console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
await run(CONC); // warm-up (JIT, module loading)
const fast = await run(CONC);
const slow = await run(1);

const seqBoot = slow.bootstrapCalls; // calls a sequential run needs
const seqEval = slow.evaluateCalls;
const ideal = (Math.ceil(seqBoot / CONC) + Math.ceil(seqEval / CONC)) * LATENCY;
console.log(`workload: ${N} examples, ${LATENCY} ms per LM call; sequential LM calls: bootstrap ${seqBoot}, evaluate ${seqEval}`);
for (const [name, r] of [[`concurrency ${CONC}`, fast], ['concurrency 1', slow]]) {
  console.log(
    `${name.padEnd(15)} total ${fmt(r.totalMs).padStart(8)}  (bootstrap ${fmt(r.bootstrapMs)}, ${r.bootstrapCalls} calls; ` +
      `evaluate ${fmt(r.evaluateMs)}, ${r.evaluateCalls} calls)  bootstrapped ${r.bootstrapped} [${r.demos}], score ${r.score}`,
  );
}
const vsIdeal = fast.totalMs / ideal;
const speedup = slow.totalMs / fast.totalMs;
console.log(`ideal at concurrency ${CONC}: ${fmt(ideal)} = (ceil(${seqBoot}/${CONC}) + ceil(${seqEval}/${CONC})) x ${LATENCY} ms`);
console.log(`wall / ideal:                 ${vsIdeal.toFixed(3)}x   (target <= 1.15x) ${vsIdeal <= 1.15 ? 'OK' : 'MISSED'}`);
console.log(`speed-up vs concurrency 1:    ${speedup.toFixed(1)}x   (target >= 12x)   ${speedup >= 12 ? 'OK' : 'MISSED'}`);
console.log(`same result at both concurrencies: ${fast.demos === slow.demos && fast.score === slow.score ? 'yes' : 'NO'}`);
console.log(`bootstrap calls started speculatively at concurrency ${CONC} and cancelled at the quota: ${fast.bootstrapCalls - slow.bootstrapCalls}`);
