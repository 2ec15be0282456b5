import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';
import { FakeElixir, serveReferenceExecutions } from '../support/fake_elixir.js';

// `optimize` and `evaluate` through the real sidecar process: every candidate execution is a
// `pipeline/execute` callback, answered here the way the Elixir Reference executor does,
// whose LM calls go back to the sidecar as `lm/generate` tagged with the run id.
const PIPELINE = join(ROOT, 'examples/code_analysis/pipeline.yaml');
const DATA = join(ROOT, 'examples/code_analysis/training_data');

let elixir: FakeElixir;
let out: string;


beforeEach(async () => {
  out = mkdtempSync(join(tmpdir(), 'elexirion-optimize-'));
  elixir = new FakeElixir();
  serveReferenceExecutions(elixir);
  await elixir.initialize();
});

afterEach(async () => {
  await elixir.close();
});

const baseParams = () => ({
  pipeline: { path: PIPELINE },
  trainingData: { dir: DATA },
  lm: 'offline',
  // No metric: the workflow's own `dspy.metric` block decides (findings overlap, severity).
  optimizer: { name: 'BootstrapFewShot', options: { maxBootstrappedDemos: 3 } },
  seed: 7,
  outDir: out,
  progressToken: 'opt-1',
});

describe('optimize over the wire', () => {
  it('optimizes the shipped example end to end and writes the optimized config back', async () => {
    const sourceBefore = readFileSync(PIPELINE);
    const r = await elixir.request('optimize', baseParams());
    expect(r.error).toBeUndefined();
    const res = r.result;
    expect(res.bestScore).toBeGreaterThan(res.baselineScore);
    expect(res.cutShort).toBe(false);
    expect(res.verdict).toMatchObject({ metric: 'composite', heldOut: 6, improved: true, written: true });
    expect(res.verdict.scale).toMatch(/^0-100/);
    expect(res.verdict.ci95[0]).toBeGreaterThan(0);
    expect(res.verdict.lift).toBeCloseTo(res.bestScore - res.baselineScore, 2);
    expect(res.optimizedYamlPath).toBe(join(out, 'pipelines/optimized/code_analysis.yaml'));
    expect(res.programPath).toBe(join(out, 'optimized_modules/code_analysis.json'));
    expect(existsSync(res.optimizedYamlPath)).toBe(true);
    const yaml = readFileSync(res.optimizedYamlPath, 'utf8');
    expect(yaml).not.toContain('PLACEHOLDER_FOR_OPTIMIZATION');
    expect(yaml).toContain('### Example 1');
    const program = JSON.parse(readFileSync(res.programPath, 'utf8'));
    const [path] = Object.keys(program).filter((k) => k !== 'metadata');
    const demos = program[path!].demos as Array<Record<string, unknown>>;
    expect(demos.filter((d) => d.augmented).length).toBeGreaterThan(0);
    // Every demo is right for its input: its findings are those of the training example whose code it shows.
    const expected = new Map(
      readdirSync(DATA).map((f) => {
        const e = JSON.parse(readFileSync(join(DATA, f), 'utf8'));
        return [e.input.code, e.expected_output.findings];
      }),
    );
    for (const d of demos) expect(d.findings).toEqual(expected.get(d.code as string));
    // The run's LM calls were made by "Elixir" through lm/generate, and counted for the run.
    expect(res.usage.calls).toBeGreaterThan(0);
    expect(elixir.callbacks.filter((c) => c.method === 'pipeline/execute').length).toBeGreaterThan(10);
    // Progress reached the client under its token; the source config is untouched.
    const progress = elixir.notifications.filter((n) => n.method === '$/progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p.params.token === 'opt-1')).toBe(true);
    expect(progress.map((p) => p.params.value.phase)).toEqual(expect.arrayContaining(['baseline', 'bootstrap', 'done']));
    expect(readFileSync(PIPELINE).equals(sourceBefore)).toBe(true);
  });

  it('is repeatable: the same seed writes the same program', async () => {
    const a = await elixir.request('optimize', { ...baseParams(), outDir: join(out, 'a') });
    const b = await elixir.request('optimize', { ...baseParams(), outDir: join(out, 'b') });
    expect(readFileSync(a.result.programPath, 'utf8')).toBe(readFileSync(b.result.programPath, 'utf8'));
    expect(readFileSync(a.result.optimizedYamlPath, 'utf8')).toBe(readFileSync(b.result.optimizedYamlPath, 'utf8'));
  });

  it('stops cleanly at its budget, counting the calls Elixir makes for the run; an unscored result is not written', async () => {
    const r = await elixir.request('optimize', { ...baseParams(), budget: { maxCalls: 12 } });
    expect(r.error).toBeUndefined();
    expect(r.result.cutShort).toBe(true);
    expect(r.result.cutShortReason).toMatch(/budget/);
    expect(r.result.usage.calls).toBeLessThanOrEqual(12);
    expect(r.result.verdict).toMatchObject({ improved: false, written: false });
    expect(r.result.verdict.reason).toMatch(/cut short/);
    expect(r.result.optimizedYamlPath).toBeUndefined();
    expect(existsSync(join(out, 'pipelines'))).toBe(false);
    // asked to, it writes the best so far
    const anyway = await elixir.request('optimize', { ...baseParams(), budget: { maxCalls: 12 }, writeAnyway: true, outDir: join(out, 'anyway') });
    expect(anyway.result.verdict.written).toBe(true);
    expect(existsSync(anyway.result.optimizedYamlPath)).toBe(true);
  });

  it('names the bad field of invalid params', async () => {
    const r = await elixir.request('optimize', { ...baseParams(), optimizer: { name: 'Nope' } });
    expect(r.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['optimizer', 'name'] }] } });
    const bad = await elixir.request('optimize', {
      ...baseParams(),
      optimizer: { name: 'BootstrapFewShot', options: { maxBootstrappedDemos: 'many' } },
    });
    expect(bad.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['optimizer', 'options', 'maxBootstrappedDemos'] }] } });
  });

  it('takes per-step signature overrides, and names an unknown step', async () => {
    const r = await elixir.request('optimize', {
      ...baseParams(),
      signatures: { analyze_code: { instructions: 'Review this Elixir module like a strict OTP expert.' } },
    });
    expect(r.error).toBeUndefined();
    const program = JSON.parse(readFileSync(r.result.programPath, 'utf8'));
    const [path] = Object.keys(program).filter((k) => k !== 'metadata');
    expect(program[path!].signature.instructions).toBe('Review this Elixir module like a strict OTP expert.');
    expect(readFileSync(r.result.optimizedYamlPath, 'utf8')).toContain('Review this Elixir module like a strict OTP expert.');

    const bad = await elixir.request('optimize', { ...baseParams(), signatures: { no_such_step: 'a -> b' } });
    expect(bad.error?.code).toBe(-32012);
    expect(bad.error?.message).toContain('no_such_step');
  });

  it('refuses an output name that cannot be written before any execution, writing nothing', async () => {
    for (const name of ['../escape', 'x'.repeat(300)]) {
      const r = await elixir.request('optimize', { ...baseParams(), name });
      expect(r.error?.code).toBe(-32012);
      expect(r.error?.message).toMatch(/output name/);
    }
    expect(elixir.callbacks).toHaveLength(0);
    expect(existsSync(join(out, 'pipelines'))).toBe(false);
  });

  it('is cancellable: the reply is -32800 and pending executions are cancelled too', async () => {
    let started!: () => void;
    const firstExecution = new Promise<void>((r) => (started = r));
    elixir.on('pipeline/execute', () => {
      started();
      return new Promise(() => {}); // never answers
    });
    const reply = elixir.request('optimize', baseParams(), 'cancel-me');
    await firstExecution;
    elixir.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 'cancel-me' } });
    const r = await reply;
    expect(r.error?.code).toBe(-32800);
    await expect.poll(() => elixir.cancelled.length).toBeGreaterThan(0);
  });
});

describe('dry run', () => {
  it('estimates the LM calls before anything is spent: nothing executes, nothing is written', async () => {
    const r = await elixir.request('optimize', {
      ...baseParams(),
      optimizer: { name: 'MIPROv2', options: { auto: 'light', dryRun: true } },
    });
    expect(r.error).toBeUndefined();
    expect(r.result.dryRun).toBe(true);
    const { calls, summary } = r.result.estimate;
    expect(calls.baseline).toBe(6); // 6 held-out examples x 1 LLM step
    expect(calls.optimizer.expected).toBeGreaterThan(0);
    expect(calls.total.max).toBeGreaterThanOrEqual(calls.total.expected);
    expect(summary).toMatch(/LM calls/);
    expect(elixir.callbacks).toHaveLength(0);
    expect(existsSync(join(out, 'pipelines'))).toBe(false);
  });

  it('is refused for optimizers that cannot estimate, naming the optimizer', async () => {
    const r = await elixir.request('optimize', { ...baseParams(), optimizer: { name: 'bootstrap_few_shot', options: { dryRun: true } } });
    expect(r.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['optimizer', 'options', 'dryRun'] }] } });
    expect(r.error!.message).toContain('BootstrapFewShot cannot estimate');
    expect(elixir.callbacks).toHaveLength(0);
  });
});

describe('evaluate over the wire', () => {
  it('scores every example and reports each by its training-data id', async () => {
    const r = await elixir.request('evaluate', { ...baseParams(), optimizer: undefined });
    expect(r.error).toBeUndefined();
    expect(r.result.results).toHaveLength(24);
    expect(r.result.results.every((x: { exampleId: unknown }) => typeof x.exampleId === 'string')).toBe(true);
    expect(statSync(out).isDirectory()).toBe(true);
  });
});
