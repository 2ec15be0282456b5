// Pipeline program overhead: what PipelineProgram.forward adds per candidate execution on top
// of the executor it calls (render the candidate config with demos, hash it, validate the
// result, parse step outputs, record traces), with a zero-latency in-process executor. The
// wire and the Elixir executor are measured separately (the sidecar's benchmark); this is the
// Node-side share. Imports the built code from dist/ (`npm run bench` builds).
import { cpus, loadavg } from 'node:os';
import { Example, withTrace } from '../dist/dspy/index.js';
import { loadPipelineFile, PipelineProgram, TrainingDataManager } from '../dist/pipeline/index.js';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 2) => n.toFixed(d);
const row = (label, value) => console.log(`  ${label.padEnd(52)}: ${value}`);

async function timePerCall(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per call
}

console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((x) => fmt(x)).join(' ')} (shared machine: figures are noisy)`);

const config = await loadPipelineFile('examples/refactoring/pipeline.yaml');
const examples = await new TrainingDataManager('examples/refactoring/training_data').loadExamples();
const plan = JSON.stringify(examples[0].get('expected_output'));
const result = {
  status: 'ok',
  steps: {
    analyze_for_refactoring: { text: 'The agent is unsupervised; state is lost on crash.', success: true },
    generate_refactoring_plan: { text: plan, success: true },
  },
  output: plan,
  durationMs: 0,
};
const executor = async () => result;

for (const demos of [0, 3]) {
  const program = new PipelineProgram(config, { executor, trainset: examples });
  for (const p of program.predictors()) {
    p.demos = examples.slice(1, 1 + demos).map((e) => new Example({ ...e.toDict(), analyze_for_refactoring: 'analysis text', augmented: true }));
  }
  const inputs = examples[0].inputs().toDict();
  const N = 2_000;
  await timePerCall(() => executor(config, inputs, { candidateId: 'x' }), N);
  await timePerCall(() => withTrace(() => program.forward(inputs)), N);
  const base = [];
  const full = [];
  for (let trial = 0; trial < 5; trial++) {
    base.push(await timePerCall(() => executor(config, inputs, { candidateId: 'x' }), N));
    full.push(await timePerCall(() => withTrace(() => program.forward(inputs)), N));
  }
  const b = median(base);
  const f = median(full);
  console.log(`PipelineProgram.forward, two-step refactoring workflow, ${demos} demos per step (median of 5 x ${N})`);
  row('baseline: executor call alone', `${fmt(b)} µs/call`);
  row('forward (render + hash + validate + parse + trace)', `${fmt(f)} µs/call`);
  row('overhead of the program', `${fmt(f - b)} µs/call (target < 1000 µs) ${f - b < 1000 ? 'OK' : 'MISSED'}`);
  row('ratio forward / baseline', `${fmt(f / b)}x`);
}
