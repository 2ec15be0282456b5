/**
 * pipeline_ex's result maps, as the Elixir PipelineEx executor puts them on the wire
 * (test/pipeline/fixtures/pipeline_ex/*.json: each cites the pipeline_ex file:line it comes
 * from; elixir_client's pipeline_ex_contract_test checks they are what Elixir produces),
 * replayed through validation, step parsing, traces and metric scoring; and the spend such
 * results report charged to the run, so a budget stops it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Example, withTrace } from '../../src/dspy/index.js';
import { Meter, runWithMeter } from '../../src/lm/meter.js';
import { BootstrapFewShot, metricToNumber } from '../../src/optimizers/index.js';
import {
  chargeExternalUsage,
  getMetric,
  loadPipelineFile,
  parseStepOutput,
  PipelineProgram,
  structuredValue,
  validateExecuteResult,
  withConcurrencyLimit,
  type ExecuteResult,
  type PipelineExecutor,
} from '../../src/pipeline/index.js';

const DIR = 'test/pipeline/fixtures/pipeline_ex';

interface Fixture {
  name: string;
  citation: string;
  workflow: unknown;
  pipelineExResults: Record<string, unknown>;
  wire: unknown;
}

const fixtures: Fixture[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture);
const byName = (n: string) => fixtures.find((f) => f.name === n)!;
const wireOf = (n: string) => validateExecuteResult(byName(n).wire);

const FIELDS = ['findings', 'recommendations', 'severity'];
const ANSWER = { findings: ['GenServer state grows without bound'], recommendations: ['Add a cap'], severity: 'medium' };

describe('pipeline_ex result fixtures', () => {
  it('every fixture cites pipeline_ex at ff625ec and is a valid pipeline/execute result', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(15);
    for (const f of fixtures) {
      expect(f.citation, f.name).toMatch(/^nshkrdotcom\/pipeline_ex@ff625ec lib\/pipeline\/.+\.ex:\d+/);
      expect(() => validateExecuteResult(f.wire), f.name).not.toThrow();
    }
  });

  it('fact 1: a three-field signature parses from the JSON text of every LLM step type', () => {
    const cases: Array<[string, string]> = [
      ['claude_smart', 'analyze_code'],
      ['claude_session', 'review'],
      ['claude_extract', 'extract'],
      ['claude_robust', 'robust'],
      ['claude_live', 'analyze'],
      ['claude_mocked', 'analyze'],
      ['gemini', 'plan'],
    ];
    for (const [name, step] of cases) {
      const s = wireOf(name).steps[step]!;
      expect(parseStepOutput(s, FIELDS), name).toEqual(ANSWER);
    }
  });

  it('fact 1: engine extras never shadow the answer, even when an executor sends them as output', () => {
    const s = wireOf('claude_smart').steps['analyze_code']!;
    // what older executors sent: session_id and claude_smart_metadata as `output`
    const legacy = { ...s, output: { session_id: s.metadata!['session_id'], claude_smart_metadata: s.metadata!['claude_smart_metadata'] } };
    expect(structuredValue(legacy)).toEqual(ANSWER);
    expect(parseStepOutput(legacy, FIELDS)).toEqual(ANSWER);
    // a step with no JSON text still reads its object output
    expect(parseStepOutput({ success: true, output: { plan: 'p' } }, ['plan', 'risks'])).toEqual({ plan: 'p' });
  });

  it('fact 2: a skipped step has no fields, no trace entry, and its predecessor stays the answer', async () => {
    const f = byName('skipped_last_step');
    const wire = wireOf('skipped_last_step');
    expect(parseStepOutput(wire.steps['alpha_review']!, ['review'])).toEqual({});
    const program = new PipelineProgram(f.workflow, {
      executor: async () => structuredClone(wire),
      inputKeys: ['code'],
      outputKeys: ['review'],
      steps: ['zeta_analyze', 'alpha_review'],
      signatures: { zeta_analyze: 'code -> findings, recommendations, severity' },
    });
    const { result, trace } = await withTrace(() => program.call(new Example({ code: 'x' }).withInputs('code')));
    expect(trace.map((t) => t.predictor)).toEqual([program.stepPredictor('zeta_analyze')]);
    expect(trace[0]!.outputs).toEqual(ANSWER);
    // The pipeline's answer is the last step that ran (fact 4), read as the final fields.
    expect((result as { get(k: string): unknown }).get('review')).toBe(wire.steps['zeta_analyze']!.text);
    expect(JSON.parse(wire.output as string)).toEqual(ANSWER);
  });

  it('facts 3 and 4: steps named like wire keys survive; the output is the last step run', () => {
    expect(Object.keys(wireOf('steps_named_like_the_wire').steps).sort()).toEqual(['output', 'status', 'steps']);
    const ordered = wireOf('run_order');
    expect(ordered.order).toEqual(['zeta_first', 'alpha_last']);
    expect(parseStepOutput({ success: true, text: ordered.output as string }, FIELDS)).toEqual(ANSWER);
  });

  it('calls carry predictor paths for loop bodies, nested pipelines and tasks', () => {
    expect(wireOf('for_loop').calls!.map((c) => [c.path, c.iteration])).toEqual([
      ['review_loop.steps.analyze', 0],
      ['review_loop.steps.summarize', 0],
      ['review_loop.steps.analyze', 1],
      ['review_loop.steps.summarize', 1],
    ]);
    expect(wireOf('nested_pipeline_with_inputs').calls!.map((c) => c.path)).toEqual(['sub.steps.inner_analyze']);
    expect(wireOf('parallel_claude').calls!.map((c) => c.path)).toEqual(['fan.parallel_tasks[sec]', 'fan.parallel_tasks[perf]']);
    expect(wireOf('claude_batch').calls!.map((c) => c.path)).toEqual(['batch.tasks[0]', 'batch.tasks[mul]']);
  });

  it('metric scoring: the shipped code-analysis metric passes on a claude_smart result', async () => {
    const config = await loadPipelineFile('examples/code_analysis/pipeline.yaml');
    const wire = wireOf('claude_smart');
    const program = new PipelineProgram(config, { executor: async () => structuredClone(wire), inputKeys: ['code', 'analysis_type'], outputKeys: FIELDS });
    const example = new Example({ code: 'x', analysis_type: 'otp', ...ANSWER, expected_output: ANSWER }).withInputs('code', 'analysis_type');
    const prediction = await program.call(example);
    const metric = getMetric('composite', {
      metrics: [
        { name: 'valid_json', options: { requiredKeys: FIELDS } },
        { name: 'exact_match', options: { fields: ['severity'] } },
      ],
    });
    expect(metricToNumber(await metric(example, prediction))).toBe(1);
  });
});

describe('spend reported by pipeline_ex', () => {
  const config = () => byName('claude_smart').workflow;
  const costly =
    (costUsd: number, external: boolean): PipelineExecutor =>
    async () => {
      const r = structuredClone(wireOf('claude_smart')) as ExecuteResult;
      const usage = { inputTokens: 10, outputTokens: 5, costUsd };
      r.usage = usage;
      r.calls = r.calls!.map((c) => ({ ...c, usage }));
      if (external) r.externalUsage = usage;
      else delete r.externalUsage;
      return r;
    };

  it('externalUsage is charged to every current meter once; usage alone is not (no double count)', async () => {
    const outer = new Meter();
    const inner = new Meter();
    const ext = await costly(0.25, true)(config() as never, {}, { candidateId: 'c' });
    await runWithMeter(outer, () =>
      runWithMeter(inner, async () => {
        chargeExternalUsage(ext);
        chargeExternalUsage(ext);
        chargeExternalUsage(await costly(0.25, false)(config() as never, {}, { candidateId: 'c' }));
      }),
    );
    for (const m of [outer, inner]) {
      expect(m.usage.costUsd).toBe(0.25);
      expect(m.usage.tokens).toBe(15);
      expect(m.usage.providerCalls).toBe(1);
    }
  });

  it('a run whose pipeline_ex results report cost stops at its USD budget (cutShort, budget reason)', async () => {
    let executions = 0;
    const inner = costly(0.01, true);
    const executor = withConcurrencyLimit(async (c, i, ctx) => (executions++, inner(c, i, ctx)), 2);
    const program = new PipelineProgram(config(), { executor, inputKeys: ['code'], outputKeys: FIELDS });
    const trainset = Array.from({ length: 20 }, (_, k) => new Example({ code: `m${k}`, ...ANSWER }).withInputs('code'));
    const meter = new Meter({ budget: { maxUsd: 0.035 } });
    const { report } = await new BootstrapFewShot({ maxBootstrappedDemos: 20, maxLabeledDemos: 0 }).compile(program, {
      trainset,
      metric: () => false,
      meter,
    });
    expect(report.cutShort).toBe(true);
    expect(report.cutShortReason).toMatch(/^budget: .*usd/);
    // it stopped at the cap (give or take the executions in flight), not after the trainset
    expect(executions).toBeGreaterThanOrEqual(4);
    expect(executions).toBeLessThanOrEqual(5);
    expect(meter.usage.costUsd).toBeGreaterThanOrEqual(0.035);
  });
});
