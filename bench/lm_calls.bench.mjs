#!/usr/bin/env node
// LM calls and wall time of each optimizer at concurrency 16 over a 20 ms LM, against the
// sequential algorithm (the same run at concurrency 1, measured in this run) and the ideal.
//
// Calls: requests the run reports as sent (usage.sent: cache hits excluded, aborted included),
// checked against the provider's own count; target <= 1.10x the sequential walk's.
// Ideal wall time: the phases of a run are sequential (a candidate is scored after it is
// built, a walk's next decision needs the previous outcomes...), so with 16 calls in flight
// no schedule beats, over the phases of the sequential run, ceil(calls / 16) x 20 ms for a
// phase whose calls are independent (a bootstrap walk, an evaluation) and calls x 20 ms for one
// whose calls depend on each other (MIPROv2's dataset summary and instruction proposals).
// Phases are read off the sequential run's progress events. Target <= 1.2x. (Independent
// phases that the sequential algorithm runs one after another, such as random search's next walk
// and the current candidate's scoring, or MIPROv2's demo-set walks and dataset summary, are
// overlapped at concurrency > 1, so a run can beat this figure.) A bootstrap walk
// cannot both send no speculative call and finish in ceil(calls / 16) rounds: a walk that is
// only a few calls long takes a round or two more than that "ideal" (see launch_policy.ts).
// Imports the compiled code: run through `npm run bench` (which builds first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';

process.env.ELEXIRION_LOG_LEVEL ??= 'error';
const distIndex = fileURLToPath(new URL('../dist/optimizers/index.js', import.meta.url));
if (!existsSync(distIndex)) {
  console.error('dist/ is missing: run `npm run bench` (it builds first) or `npm run build`.');
  process.exit(1);
}
const { Example, Module, Predict, settings } = await import('../dist/dspy/index.js');
const { DummyLM, renderChatAnswer } = await import('../dist/dspy/dummy_lm.js');
const { ManagedLM } = await import('../dist/lm/managed.js');
const { BootstrapFewShot, BootstrapFewShotWithRandomSearch, MIPROv2, Evaluate } = await import('../dist/optimizers/index.js');

const LATENCY = 20;
const CONC = 16;
const q = (i) => `Q${String(i).padStart(3, '0')}?`;
const examples = (n, from = 0) =>
  Array.from({ length: n }, (_, k) => new Example({ question: q(from + k), answer: `A${from + k}` }).withInputs('question'));

class QA extends Module {
  predict = new Predict('question -> answer');
  forward(inputs) {
    return this.predict.call(inputs);
  }
}
const metric = (ex, pred) => pred.get('answer') === ex.get('answer');

/** A 20 ms LM that answers question i right unless wrong(i); other prompts get MIPROv2's fields. */
function makeLM(n, wrong) {
  const table = {};
  for (let i = 0; i < n; i++) table[q(i)] = { answer: wrong(i) ? `wrong-${i}` : `A${i}` };
  const dummy = DummyLM.bySubstring(table, { latencyMs: LATENCY, historyLimit: 0 });
  const fallback = renderChatAnswer({ observations: 'short questions', summary: 'codes', proposed_instruction: 'Answer with the code.' });
  const gen = dummy.generate.bind(dummy);
  dummy.generate = async (messages, o) => {
    const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    if (/\[\[ ## question ## \]\]/.test(last)) return gen(messages, o);
    dummy.calls += 1;
    await new Promise((r) => setTimeout(r, LATENCY));
    return { text: fallback, usage: { inputTokens: 10, outputTokens: 5 }, model: dummy.model, cached: false, costUsd: 0 };
  };
  return { dummy, lm: new ManagedLM(dummy, { cache: false }) };
}

/** Phases of a sequential run from its progress events: [{ calls, dependent }]. */
function phaseRecorder(dummy) {
  const phases = [];
  let last = dummy.calls;
  let group;
  return {
    phases,
    onProgress(e) {
      const delta = dummy.calls - last;
      last = dummy.calls;
      const key = e.phase === 'bootstrap' ? `bootstrap:${String(e.message).split(':')[0]}` : e.phase === 'evaluate' ? `evaluate:${e.message}` : undefined;
      if (key && key === group) phases[phases.length - 1].calls += delta;
      else if (delta > 0 || key) phases.push({ calls: delta, dependent: e.phase === 'propose', key: key ?? e.phase });
      group = key;
      // an evaluation that ends is followed by a non-evaluate event: the next one starts a new phase
    },
  };
}

const idealMs = (phases) => phases.reduce((a, p) => a + (p.dependent ? p.calls : Math.ceil(p.calls / CONC)) * LATENCY, 0);

async function measure(name, n, wrong, compile) {
  const runAt = async (concurrency, rec) => {
    const { dummy, lm } = makeLM(n, wrong);
    const r = rec ? phaseRecorder(dummy) : undefined;
    const t0 = performance.now();
    const { program, report, compileCalls } = await settings.context({ lm }, () => compile(concurrency, r ? (e) => r.onProgress(e) : undefined, dummy));
    const ms = performance.now() - t0;
    const demos = JSON.stringify(program.namedPredictors().map(([, p]) => [p.signature.instructions, p.demos.map((d) => d.toDict())]));
    return { ms, sent: report.usage.sent, aborted: report.usage.aborted, providerCalls: compileCalls ?? dummy.calls, demos, phases: r?.phases };
  };
  await runAt(CONC); // warm-up
  const seq = await runAt(1, true);
  const fast = await runAt(CONC);
  const ideal = idealMs(seq.phases);
  const callRatio = fast.sent / seq.sent;
  const wallRatio = fast.ms / ideal;
  console.log(`\n${name}`);
  console.log(`  sequential (concurrency 1): ${seq.sent} calls sent, ${seq.ms.toFixed(0)} ms`);
  console.log(`  concurrency ${CONC}: ${fast.sent} calls sent (${fast.aborted} aborted; provider received ${fast.providerCalls}), ${fast.ms.toFixed(0)} ms`);
  console.log(`  calls sent / sequential: ${callRatio.toFixed(3)}x  (target <= 1.10x) ${callRatio <= 1.1 ? 'OK' : 'MISSED'}`);
  console.log(`  wall / ideal (${ideal} ms over ${seq.phases.length} phases): ${wallRatio.toFixed(3)}x  (target <= 1.2x) ${wallRatio <= 1.2 ? 'OK' : 'MISSED'}`);
  console.log(`  speed-up vs concurrency 1: ${(seq.ms / fast.ms).toFixed(1)}x; same result: ${seq.demos === fast.demos ? 'yes' : 'NO'}; usage = provider count: ${fast.sent === fast.providerCalls ? 'yes' : 'NO'}`);
}

console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; LM latency ${LATENCY} ms`);

const twoInThree = (i) => i % 3 === 2;
await measure('BootstrapFewShot (teacher right 2 in 3, 4 demos) — the issue\'s workload', 60, twoInThree, (concurrency, onProgress) =>
  new BootstrapFewShot({ maxBootstrappedDemos: 4, maxLabeledDemos: 4 }).compile(new QA(), { trainset: examples(60), metric, concurrency, seed: 0, onProgress }),
);

await measure('BootstrapFewShot, then Evaluate of the result on 64 examples (calls: the compile\'s)', 60, twoInThree, async (concurrency, onProgress, dummy) => {
  const r = await new BootstrapFewShot({ maxBootstrappedDemos: 4, maxLabeledDemos: 4 }).compile(new QA(), { trainset: examples(60), metric, concurrency, seed: 0, onProgress });
  const compileCalls = dummy.calls;
  await new Evaluate({ devset: examples(60).concat(examples(4)), metric, concurrency, onProgress }).run(r.program);
  return { ...r, compileCalls };
});

await measure('BootstrapFewShot (teacher right 1 in 20, 4 demos: a long walk)', 200, (i) => i % 20 !== 19, (concurrency, onProgress) =>
  new BootstrapFewShot({ maxBootstrappedDemos: 4, maxLabeledDemos: 4 }).compile(new QA(), { trainset: examples(200), metric, concurrency, seed: 0, onProgress }),
);

await measure('BootstrapFewShotWithRandomSearch (4 candidate programs + 3 fixed, valset 32)', 100, twoInThree, (concurrency, onProgress) =>
  new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 4, maxBootstrappedDemos: 4, maxLabeledDemos: 4 }).compile(new QA(), {
    trainset: examples(60),
    valset: examples(32, 60),
    metric,
    concurrency,
    seed: 0,
    onProgress,
  }),
);

await measure('MIPROv2 (4 candidates, 8 trials, minibatch 16, valset 32)', 100, twoInThree, (concurrency, onProgress) =>
  new MIPROv2({ auto: null, numCandidates: 4, numTrials: 8, minibatchSize: 16, maxBootstrappedDemos: 4, maxLabeledDemos: 4 }).compile(new QA(), {
    trainset: examples(60),
    valset: examples(32, 60),
    metric,
    concurrency,
    seed: 0,
    onProgress,
  }),
);
