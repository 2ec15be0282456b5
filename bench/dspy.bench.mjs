// DSPy core overhead: what a Predict call costs on top of the LM call it makes, and how close
// `batch` gets to ideal concurrency. Imports the built code from dist/ (`npm run bench` builds).
import { cpus, loadavg } from 'node:os';
import { ChatAdapter, Example, Predict, Signature } from '../dist/dspy/index.js';
import { DummyLM } from '../dist/lm/dummy.js';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 2) => n.toFixed(d);
const row = (label, value) => console.log(`  ${label.padEnd(44)}: ${value}`);

async function timePerCall(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per call
}

console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((x) => fmt(x)).join(' ')} (shared machine: figures are noisy)`);

// 1. Predict overhead over a zero-latency DummyLM, without and with demos.
{
  const signature = Signature.parse('question, context: list[str] -> answer, confidence: float', 'Answer from the context.');
  const lm = new DummyLM({ answers: { '': { answer: 'Paris', confidence: 0.9 } }, historyLimit: 0 });
  const inputs = { question: 'What is the capital of France?', context: ['France is a country.', 'Its capital is Paris.'] };
  const demos = Array.from({ length: 4 }, (_, i) => new Example({ question: `q${i}`, context: [`c${i}`], answer: `a${i}`, confidence: 0.5 }));
  const N = 20_000;
  for (const [label, predict] of [
    ['no demos', new Predict(signature, { lm })],
    ['4 demos', new Predict(signature, { lm, demos })],
  ]) {
    const messages = new ChatAdapter().format(signature, predict.demos, inputs);
    // Warm up both paths so the JIT has compiled them.
    await timePerCall(() => lm.generate(messages), N);
    await timePerCall(() => predict.forward(inputs), N);
    const base = [];
    const full = [];
    for (let trial = 0; trial < 7; trial++) {
      base.push(await timePerCall(() => lm.generate(messages), N));
      full.push(await timePerCall(() => predict.forward(inputs), N));
    }
    const b = median(base);
    const f = median(full);
    const overhead = f - b;
    console.log(`Predict.forward over a zero-latency DummyLM, ${label} (median of 7 x ${N} sequential calls)`);
    row('baseline: DummyLM.generate alone', `${fmt(b)} µs/call`);
    row('Predict.forward (format + LM + parse + trace)', `${fmt(f)} µs/call`);
    row('overhead of Predict', `${fmt(overhead)} µs/call (target < 50 µs) ${overhead < 50 ? 'OK' : 'MISSED'}`);
    row('ratio Predict / baseline', `${fmt(f / b)}x`);
  }
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
