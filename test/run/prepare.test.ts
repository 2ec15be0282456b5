// What a run is made of before its first LM call, from the params as a user writes them: the
// defaults a run takes when a param is left out, the split, the metric, the program's steps,
// who its executions are attributed to, the budget its meter enforces, and the reflection LM.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunIdentity } from '../../src/run/index.js';
import { DEFAULT_CONCURRENCY, DEFAULT_EXECUTION_TIMEOUT_MS, optimizeRun, prepareRun, RunParamsError } from '../../src/run/index.js';
import { ROOT } from '../support/build.js';
import { TrainingDataError } from '../../src/pipeline/errors.js';
import { CODE_ANALYSIS, codeAnalysisParams, inProcessHost } from './helpers.js';

const REFACTORING = join(ROOT, 'examples/refactoring');
const refactoring = { pipeline: { path: join(REFACTORING, 'pipeline.yaml') }, trainingData: { dir: join(REFACTORING, 'training_data') } };

describe('prepareRun', () => {
  it('with only a pipeline and training data: the host LM, seed 0, concurrency 8, a 120 s execution timeout, a fresh run id', async () => {
    const host = inProcessHost();
    const identities: RunIdentity[] = [];
    const inner = host.executorFor;
    host.executorFor = (id) => {
      identities.push(id);
      return inner(id);
    };
    const params = codeAnalysisParams();
    delete params.lm;
    delete params.seed;
    delete params.concurrency;
    const run = await prepareRun(params, host);
    expect(run.lmSpec).toBe('offline');
    expect(run.seed).toBe(0);
    expect(run.concurrency).toBe(DEFAULT_CONCURRENCY);
    expect(DEFAULT_CONCURRENCY).toBe(8);
    expect(run.runId).toMatch(/^run-\d{8}T\d{6}-[0-9a-f]{6}$/);
    expect(identities).toEqual([{ runId: run.runId, lmSpec: 'offline', timeoutMs: DEFAULT_EXECUTION_TIMEOUT_MS }]);
    expect(DEFAULT_EXECUTION_TIMEOUT_MS).toBe(120_000);
    expect(run.name).toBe('code_analysis'); // the workflow's name
    expect(run.runDir).toBe(join(params.outDir!, '.elexirion', 'runs', run.runId));
    expect(run.metricSpec.name).toBe('composite'); // the workflow's own dspy.metric
    expect(run.meter.budget).toBeUndefined();
    expect(run.reflectionLm).toBeUndefined();
  });

  it('takes what the params give: run id, seed, concurrency, timeout, name, LM, budget, val fraction', async () => {
    const host = inProcessHost();
    const identities: RunIdentity[] = [];
    const inner = host.executorFor;
    host.executorFor = (id) => {
      identities.push(id);
      return inner(id);
    };
    const run = await prepareRun(
      codeAnalysisParams({ runId: 'r-1', seed: 5, concurrency: 3, executionTimeoutMs: 900, name: 'mine', budget: { maxCalls: 4 }, valFraction: 0.5 }),
      host,
    );
    expect(run).toMatchObject({ runId: 'r-1', seed: 5, concurrency: 3, name: 'mine', lmSpec: 'offline' });
    expect(identities).toEqual([{ runId: 'r-1', lmSpec: 'offline', timeoutMs: 900 }]);
    expect(run.meter.budget).toMatchObject({ maxCalls: 4 });
    expect(run.valset).toHaveLength(Math.round(run.examples.length / 2));
    expect(run.trainset.length + run.valset.length).toBe(run.examples.length);
  });

  it('examples keep their training-data ids; the split is seeded', async () => {
    const host = inProcessHost();
    const a = await prepareRun(codeAnalysisParams({ seed: 3 }), host);
    const b = await prepareRun(codeAnalysisParams({ seed: 3 }), host);
    const c = await prepareRun(codeAnalysisParams({ seed: 4 }), host);
    const ids = (run: typeof a) => run.valset.map((e) => run.ids.get(e));
    expect(ids(a)).toEqual(ids(b));
    expect(ids(a)).not.toEqual(ids(c));
    expect(a.ids.get(a.examples[0]!)).toBe('ca01-agent-unsupervised');
    expect(a.examples).toHaveLength(24);
  });

  it("the request's metric, with its options, wins over the workflow's", async () => {
    const run = await prepareRun(codeAnalysisParams({ metric: { name: 'findings_f1', options: { passAt: 0.5 } } }), inProcessHost());
    expect(run.metricSpec).toEqual({ name: 'findings_f1', options: { passAt: 0.5 } });
    expect(typeof run.metric).toBe('function');
  });

  it('a metric option that does not exist is refused before any work', async () => {
    const host = inProcessHost();
    await expect(prepareRun(codeAnalysisParams({ metric: { name: 'findings_f1', options: { passAtt: 0.5 } } }), host)).rejects.toThrow(/passAtt/);
    expect(host.executions).toBe(0);
  });

  it('optimizes only the steps named, each with the signature given for it', async () => {
    const all = await prepareRun(codeAnalysisParams(refactoring), inProcessHost());
    expect(all.program.predictors()).toHaveLength(2);
    const one = await prepareRun(
      codeAnalysisParams({ ...refactoring, steps: ['generate_refactoring_plan'], signatures: { generate_refactoring_plan: 'code, goal, analyze_for_refactoring -> plan' } }),
      inProcessHost(),
    );
    const named = one.program.namedPredictors();
    expect(named).toHaveLength(1);
    expect(named[0]![1].signature.outputNames).toEqual(['plan']);
  });

  it('executions run at most `concurrency` at a time', async () => {
    let inFlight = 0;
    let peak = 0;
    const host = inProcessHost(async () => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight -= 1;
      return { status: 'ok', steps: {}, output: { findings: [] }, durationMs: 5 };
    });
    const run = await prepareRun(codeAnalysisParams({ concurrency: 2 }), host);
    const examples = run.examples.slice(0, 6);
    await Promise.all(examples.map((e) => run.program.forward(e.inputs().toDict()).catch(() => undefined)));
    expect(peak).toBe(2);
  });

  it('the reflection LM is its own: refused by name when its spec is bad, and held to the USD budget like the run LM', async () => {
    const host = inProcessHost();
    const run = await prepareRun(codeAnalysisParams({ reflectionLm: 'offline' }), host);
    expect(run.reflectionLm).toBe(host.lms.get('offline'));
    const bad = await prepareRun(codeAnalysisParams({ reflectionLm: 'nope:x' }), host).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RunParamsError);
    expect((bad as RunParamsError).issues.map((i) => i.path)).toEqual([['reflectionLm']]);
    const unpriced = await prepareRun(
      codeAnalysisParams({ reflectionLm: 'openai:http://127.0.0.1:9/v1#no-such-model', budget: { maxUsd: 1 } }),
      host,
    ).catch((e: unknown) => e);
    expect(unpriced).toBeInstanceOf(RunParamsError);
    expect((unpriced as RunParamsError).issues.map((i) => i.path)).toEqual([['budget', 'maxUsd']]);
  });

  it('a reflection LM is refused for an optimizer that would ignore it, before any execution', async () => {
    const host = inProcessHost();
    const err = await optimizeRun(codeAnalysisParams({ reflectionLm: 'offline' }), host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunParamsError);
    expect((err as RunParamsError).issues.map((i) => i.path)).toEqual([['reflectionLm']]);
    expect(host.executions).toBe(0);
  });

  it('relative outDirs resolve against the host cwd', async () => {
    const run = await prepareRun(codeAnalysisParams({ outDir: 'out' }), { ...inProcessHost(), cwd: CODE_ANALYSIS });
    expect(run.outDir).toBe(join(CODE_ANALYSIS, 'out'));
  });

  it('a USD budget on an LM that is not billable prepares, with or without a reflection LM', async () => {
    const run = await prepareRun(codeAnalysisParams({ budget: { maxUsd: 1 } }), inProcessHost());
    expect(run.meter.budget).toMatchObject({ maxUsd: 1 });
  });

  it('inline examples keep the ids they were given; a bad one is reported under trainingData.examples', async () => {
    const run = await prepareRun(
      codeAnalysisParams({
        trainingData: {
          examples: [
            { id: 'first', input: { code: 'a' }, expected_output: { findings: [] } },
            { input: { code: 'b' }, expected_output: { findings: [] } },
          ],
        },
      }),
      inProcessHost(),
    );
    expect(run.examples.map((e) => run.ids.get(e))).toEqual(['first', 1]);
    const err = await prepareRun(
      codeAnalysisParams({ trainingData: { examples: [{ input: { findings: 'x' }, expected_output: { findings: [] } }] } }),
      inProcessHost(),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDataError);
    expect((err as TrainingDataError).problems.map((p) => p.path)).toEqual(['trainingData.examples[0].input.findings']);
  });
});
