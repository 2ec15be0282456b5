// DSPy core overhead: what a Predict call costs on top of the LM call it makes (beside Ax's, in
// the same run), and how close `batch` gets to ideal concurrency. Imports the built code from
// dist/ (`npm run bench` builds); Ax from bench/ax (installed there on first use, see load.mjs).
import { cpus, loadavg } from 'node:os';
import { ChatAdapter, Example, Predict, Signature } from '../dist/dspy/index.js';
import { DummyLM } from '../dist/dspy/dummy_lm.js';
import { loadAx } from './ax/load.mjs';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 2) => n.toFixed(d);
const row = (label, value) => console.log(`  ${label.padEnd(44)}: ${value}`);

async function timePerCall(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per call
}

/**
 * Wall and CPU µs per call. On a machine shared by more runnable processes than cores, wall
 * time also counts the time this process waited for a core; CPU time (user + system of this
 * process) does not, so both are shown.
 */
async function costPerCall(fn, n) {
  const c0 = process.cpuUsage();
  const wall = await timePerCall(fn, n);
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / n };
}

console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((x) => fmt(x)).join(' ')} (shared machine: figures are noisy)`);

// 1. Predict overhead over a zero-latency DummyLM, without and with demos, and Ax's (the DSPy
//    port for TypeScript) on the same task over a zero-latency AI service, in the same run:
//    overhead = a program call minus the bare LM call it makes. Targets (issue #15): Predict
//    under 15 µs per call and at most 1/20 of Ax's.
{
  const PREDICT_TARGET_US = 15;
  const AX_RATIO_TARGET = 20;
  const axLoaded = await loadAx();
  if (axLoaded.error) console.log(`Ax: not measured: ${axLoaded.error}`);
  const signature = Signature.parse('question, context: list[str] -> answer, confidence: float', 'Answer from the context.');
  const lm = new DummyLM({ answers: { '': { answer: 'Paris', confidence: 0.9 } }, historyLimit: 0 });
  const inputs = { question: 'What is the capital of France?', context: ['France is a country.', 'Its capital is Paris.'] };
  const demos = Array.from({ length: 4 }, (_, i) => new Example({ question: `q${i}`, context: [`c${i}`], answer: `a${i}`, confidence: 0.5 }));
  const N = 20_000;
  const NA = 1_000; // Ax calls cost ~100x more: fewer per trial, same number of trials
  const TRIALS = 7;
  for (const [label, predict, withDemos] of [
    ['no demos', new Predict(signature, { lm }), false],
    ['4 demos', new Predict(signature, { lm, demos }), true],
  ]) {
    const messages = new ChatAdapter().format(signature, predict.demos, inputs);
    const axRun = axLoaded.ax ? axProgram(axLoaded.ax, withDemos ? demos.map((d) => d.toDict()) : []) : undefined;
    if (axRun) await axRun.check(inputs);
    // Warm up every path so the JIT has compiled them.
    await timePerCall(() => lm.generate(messages), N);
    await timePerCall(() => predict.forward(inputs), N);
    if (axRun) {
      await timePerCall(() => axRun.chat(), NA);
      await timePerCall(() => axRun.forward(inputs), NA);
    }
    const base = [];
    const full = [];
    const axBase = [];
    const axFull = [];
    // Interleaved, so load on the (shared) machine hits both libraries alike.
    for (let trial = 0; trial < TRIALS; trial++) {
      base.push(await costPerCall(() => lm.generate(messages), N));
      full.push(await costPerCall(() => predict.forward(inputs), N));
      if (axRun) {
        axBase.push(await costPerCall(() => axRun.chat(), NA));
        axFull.push(await costPerCall(() => axRun.forward(inputs), NA));
      }
    }
    const of = (xs, k) => median(xs.map((x) => x[k]));
    const us = (wall, cpu) => `${fmt(wall)} µs/call wall, ${fmt(cpu)} CPU`;
    const verdict = (ok) => (ok ? 'MET' : 'MISSED');
    const predictOverhead = { wall: of(full, 'wall') - of(base, 'wall'), cpu: of(full, 'cpu') - of(base, 'cpu') };
    console.log(`Predict.forward over a zero-latency DummyLM, ${label} (median of ${TRIALS} x ${N} sequential calls)`);
    row('baseline: DummyLM.generate alone', us(of(base, 'wall'), of(base, 'cpu')));
    row('Predict.forward (format + LM + parse + trace)', us(of(full, 'wall'), of(full, 'cpu')));
    row(
      `overhead of Predict (target < ${PREDICT_TARGET_US} µs)`,
      `${us(predictOverhead.wall, predictOverhead.cpu)}: ${verdict(predictOverhead.wall < PREDICT_TARGET_US)} by wall time, ${verdict(predictOverhead.cpu < PREDICT_TARGET_US)} by CPU time`,
    );
    row('ratio Predict / baseline (wall)', `${fmt(of(full, 'wall') / of(base, 'wall'))}x`);
    if (!axRun) {
      row(`Predict vs Ax (target: at most 1/${AX_RATIO_TARGET})`, 'MISSED: Ax not measured in this run');
      continue;
    }
    const axOverhead = { wall: of(axFull, 'wall') - of(axBase, 'wall'), cpu: of(axFull, 'cpu') - of(axBase, 'cpu') };
    const ratio = { wall: axOverhead.wall / predictOverhead.wall, cpu: axOverhead.cpu / predictOverhead.cpu };
    console.log(`Ax ${axLoaded.version} forward over a zero-latency AI service, same task, ${label} (median of ${TRIALS} x ${NA} sequential calls)`);
    row('baseline: the AI service chat() alone', us(of(axBase, 'wall'), of(axBase, 'cpu')));
    row('ax(...).forward', us(of(axFull, 'wall'), of(axFull, 'cpu')));
    row('overhead of Ax', us(axOverhead.wall, axOverhead.cpu));
    row(
      `Ax overhead / Predict overhead (target >= ${AX_RATIO_TARGET}x)`,
      `${fmt(ratio.wall, 1)}x wall, ${fmt(ratio.cpu, 1)}x CPU: ${verdict(ratio.wall >= AX_RATIO_TARGET)} by wall time, ${verdict(ratio.cpu >= AX_RATIO_TARGET)} by CPU time`,
    );
  }
}

/**
 * One Ax program on the bench's task: `ax(signature)` with the same fields and, when given, the
 * same four demos, over an AI service that answers at once (Ax's own mock, minus its metrics
 * bookkeeping, which sorts every latency sample so far on each call and would grow with N).
 * Ax runs as a user would deploy it: no debug logging.
 */
function axProgram(lib, examples) {
  const response = {
    results: [{ index: 0, content: 'Answer: Paris\nConfidence: 0.9', finishReason: 'stop' }],
    modelUsage: { ai: 'zero-latency', model: 'zero-latency', tokens: { promptTokens: 10, completionTokens: 5, totalTokens: 15 } },
  };
  class ZeroLatencyAI extends lib.AxMockAIService {
    updateMetrics() {}
  }
  let request;
  const ai = new ZeroLatencyAI({
    features: { functions: false, streaming: false },
    chatResponse: async (req) => {
      request = req;
      return response;
    },
    options: { debug: false },
  });
  const gen = lib.ax('question:string, context:string[] -> answer:string, confidence:number');
  if (examples.length > 0) gen.setExamples(examples);
  const options = { debug: false };
  return {
    forward: (inputs) => gen.forward(ai, inputs, options),
    // The bare LM call, with the very request Ax sends (captured by `check`).
    chat: () => ai.chat(request, options),
    async check(inputs) {
      const out = await gen.forward(ai, inputs, options);
      if (out.answer !== 'Paris' || out.confidence !== 0.9) throw new Error(`Ax bench: unexpected output ${JSON.stringify(out)}`);
      const demoTurns = request.chatPrompt.filter((m) => m.role === 'assistant').length;
      if (demoTurns !== examples.length) throw new Error(`Ax bench: ${demoTurns} demo turns in the prompt, expected ${examples.length}`);
    },
  };
}

// 2. batch concurrency efficiency over an LM with a fixed 20 ms latency, 16-way.
{
  const LATENCY = 20;
  const WAY = 16;
  const ITEMS = 96;
  const lm = new DummyLM({ answers: { '': { answer: 'ok' } }, latencyMs: LATENCY, historyLimit: 0 });
  const predict = new Predict('question -> answer', { lm });
  const inputs = Array.from({ length: ITEMS }, (_, i) => ({ question: `q${i}` }));
  // Baseline: one call's real wall time (timer overshoot included).
  const single = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await lm.generate([{ role: 'user', content: 'x' }]);
    single.push(performance.now() - t0);
  }
  await predict.batch(inputs.slice(0, WAY), { concurrency: WAY }); // warm-up
  const walls = [];
  for (let trial = 0; trial < 5; trial++) {
    const t0 = performance.now();
    await predict.batch(inputs, { concurrency: WAY });
    walls.push(performance.now() - t0);
  }
  const wall = median(walls);
  const rounds = Math.ceil(ITEMS / WAY);
  const ideal = rounds * LATENCY;
  const idealMeasured = rounds * median(single);
  const eff = ideal / wall;
  console.log(`batch: ${ITEMS} calls, ${WAY}-way, LM latency ${LATENCY} ms (median of 5 runs)`);
  row(`ideal wall time (${rounds} rounds x ${LATENCY} ms)`, `${fmt(ideal, 1)} ms`);
  row(`ideal with the measured call (${fmt(median(single))} ms)`, `${fmt(idealMeasured, 1)} ms`);
  row('measured wall time', `${fmt(wall, 1)} ms`);
  row('efficiency vs nominal ideal', `${fmt(eff * 100, 1)}% (target >= 90%) ${eff >= 0.9 ? 'OK' : 'MISSED'}`);
  row('efficiency vs measured-call ideal', `${fmt((idealMeasured / wall) * 100, 1)}%`);
}
