// The small pieces of a run a user sees the effect of: which examples are held out, which
// optimizer a name means, what progress events carry, what resuming reports.
import { describe, expect, it } from 'vitest';
import { Example } from '../../src/dspy/index.js';
import { Meter } from '../../src/lm/meter.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canEstimate,
  canonicalOptimizerName,
  checkOutputs,
  checkRunId,
  metricSpecOf,
  newRunId,
  progressSink,
  RunParamsError,
  splitExamples,
  usageSummary,
} from '../../src/run/index.js';
import { resolveOutDir, runDirOf } from '../../src/run/validate.js';
import { plannedOptimizerUnits, resumeMessage } from '../../src/run/resume.js';
import { maxIterations, presetMetricCalls } from '../../src/optimizers/gepa/budget.js';
import type { RunProgress } from '../../src/protocol/run.js';

const examples = (n: number) => Array.from({ length: n }, (_, i) => new Example({ i }).withInputs('i'));
const ids = (xs: Example[]) => xs.map((e) => e.get('i') as number);

describe('splitExamples', () => {
  it('holds out a quarter, keeps both parts in their original order, and splits each example once', () => {
    const all = examples(20);
    const { trainset, valset } = splitExamples(all, 3);
    expect(valset).toHaveLength(5);
    expect(trainset).toHaveLength(15);
    expect([...ids(trainset), ...ids(valset)].sort((a, b) => a - b)).toEqual(ids(all));
    expect(ids(valset)).toEqual([...ids(valset)].sort((a, b) => a - b));
    expect(ids(trainset)).toEqual([...ids(trainset)].sort((a, b) => a - b));
  });

  it('is seeded: the same seed holds out the same examples, another seed others', () => {
    const all = examples(20);
    expect(ids(splitExamples(all, 3).valset)).toEqual(ids(splitExamples(all, 3).valset));
    expect(ids(splitExamples(all, 4).valset)).not.toEqual(ids(splitExamples(all, 3).valset));
  });

  it('holds out at least one and leaves at least one to train on', () => {
    expect(splitExamples(examples(4), 1).valset).toHaveLength(1);
    expect(splitExamples(examples(4), 1).trainset).toHaveLength(3);
    expect(splitExamples(examples(5), 1, 0.01).valset).toHaveLength(1);
    expect(splitExamples(examples(5), 1, 0.99).trainset).toHaveLength(1);
    expect(splitExamples(examples(10), 1, 0.5).valset).toHaveLength(5);
  });

  it('with fewer than 4 examples trains and scores on all of them', () => {
    const three = examples(3);
    const { trainset, valset } = splitExamples(three, 1);
    expect(ids(trainset)).toEqual([0, 1, 2]);
    expect(ids(valset)).toEqual([0, 1, 2]);
  });
});

describe('optimizer names', () => {
  it('accepts the class names and their snake_case spellings, in any case', () => {
    expect(canonicalOptimizerName('bootstrap_few_shot')).toBe('BootstrapFewShot');
    expect(canonicalOptimizerName('bootstrap_fewshot')).toBe('BootstrapFewShot');
    expect(canonicalOptimizerName('Random_Search')).toBe('BootstrapFewShotWithRandomSearch');
    expect(canonicalOptimizerName('bootstrap_few_shot_with_random_search')).toBe('BootstrapFewShotWithRandomSearch');
    expect(canonicalOptimizerName('MIPRO_V2')).toBe('MIPROv2');
    expect(canonicalOptimizerName('miprov2')).toBe('MIPROv2');
    expect(canonicalOptimizerName('labeled_few_shot')).toBe('LabeledFewShot');
    expect(canonicalOptimizerName('labeled_fewshot')).toBe('LabeledFewShot');
    expect(canonicalOptimizerName('BootstrapFewShot')).toBe('BootstrapFewShot');
    expect(canonicalOptimizerName('Nope')).toBe('Nope');
  });

  it('only MIPROv2 estimates a dry run', () => {
    expect(canEstimate('MIPROv2')).toBe(true);
    expect(canEstimate('BootstrapFewShot')).toBe(false);
  });
});

describe('progress and usage', () => {
  it('progress events carry the run totals unless the event has its own; a throwing listener is ignored', () => {
    const meter = new Meter({});
    const seen: RunProgress[] = [];
    const sink = progressSink((e) => seen.push(e), meter);
    sink({ phase: 'baseline' });
    sink({ phase: 'trial', calls: 7, costUsd: 0.5 });
    expect(seen).toEqual([
      { phase: 'baseline', calls: 0, costUsd: 0 },
      { phase: 'trial', calls: 7, costUsd: 0.5 },
    ]);
    expect(() =>
      progressSink(() => {
        throw new Error('listener');
      }, meter)({ phase: 'x' }),
    ).not.toThrow();
    expect(() => progressSink(undefined, meter)({ phase: 'x' })).not.toThrow();
  });

});

describe('resuming', () => {
  it('says how much of the run was already done, never more than all of it', () => {
    expect(resumeMessage('r1', 3, 10)).toBe('resuming run r1: 3 of 10 done');
    expect(resumeMessage('r1', 12, 10)).toBe('resuming run r1: 12 of 12 done');
  });

  it('plans one unit per example walked, candidate scored, demo set, proposal and trial', () => {
    expect(plannedOptimizerUnits('BootstrapFewShot', {}, 8, 1)).toBe(8);
    // 16 shuffled candidates + 3, and a walk of the trainset for each of the 17 bootstrapped ones.
    expect(plannedOptimizerUnits('BootstrapFewShotWithRandomSearch', {}, 8, 1)).toBe(19 + 17 * 8);
    expect(plannedOptimizerUnits('BootstrapFewShotWithRandomSearch', { numCandidatePrograms: 2 }, 8, 1)).toBe(5 + 3 * 8);
    // light: 6 demo sets of up to 8 walks, the summary, 2 proposals (int(6 / 2) instructions, one
    // the original), 11 trials (ceil of DSPy's 10.34).
    expect(plannedOptimizerUnits('MIPROv2', {}, 8, 1)).toBe(6 * 9 + 1 + 2 + 11);
    expect(plannedOptimizerUnits('MIPROv2', { auto: 'medium' }, 8, 1)).toBe(12 * 9 + 1 + 5 + 18);
    expect(plannedOptimizerUnits('MIPROv2', { auto: null, numCandidates: 3, numTrials: 4 }, 8, 2)).toBe(3 * 9 + 1 + 2 * 2 + 4);
    expect(plannedOptimizerUnits('LabeledFewShot', {}, 8, 1)).toBe(0);
  });

  it('plans MIPROv2 from its preset, or from the candidates and trials asked for', () => {
    // heavy: 18 candidates, ceil(max(2*2*1*log2(18), 27)) = 27 trials.
    expect(plannedOptimizerUnits('MIPROv2', { auto: 'heavy' }, 8, 1)).toBe(18 * 9 + 1 + 8 + 27);
    // An unknown preset plans as light; numCandidates wins over the preset.
    expect(plannedOptimizerUnits('MIPROv2', { auto: 'extreme' }, 8, 1)).toBe(plannedOptimizerUnits('MIPROv2', {}, 8, 1));
    expect(plannedOptimizerUnits('MIPROv2', { numCandidates: 4, numTrials: 5 }, 8, 1)).toBe(4 * 9 + 1 + 3 + 5);
    // Two predictors: 2*2*2*log2(6) = 20.68 trials, 2 proposals each; zero-shot proposes 5 each.
    expect(plannedOptimizerUnits('MIPROv2', {}, 8, 2)).toBe(6 * 9 + 1 + 2 * 2 + 21);
    expect(plannedOptimizerUnits('MIPROv2', { maxBootstrappedDemos: 0, maxLabeledDemos: 0 }, 8, 2)).toBe(6 * 9 + 1 + 2 * 5 + 21);
    expect(plannedOptimizerUnits('BootstrapFewShotWithRandomSearch', { numCandidatePrograms: 'many' }, 8, 1)).toBe(19 + 17 * 8);
  });

  it('plans GEPA as the seed candidate plus the iterations its metric-call budget allows', () => {
    // Each iteration spends two minibatches (3 examples by default); the valset is scored first.
    expect(plannedOptimizerUnits('GEPA', { maxMetricCalls: 100 }, 10, 1, 5)).toBe(1 + Math.floor(95 / 6));
    expect(plannedOptimizerUnits('GEPA', { maxMetricCalls: 100, reflectionMinibatchSize: 2 }, 10, 1, 5)).toBe(1 + Math.floor(95 / 4));
    // The minibatch is never larger than the trainset, nor smaller than one example.
    expect(plannedOptimizerUnits('GEPA', { maxMetricCalls: 100 }, 1, 1, 5)).toBe(1 + Math.floor(95 / 2));
    expect(plannedOptimizerUnits('GEPA', { maxMetricCalls: 100 }, 0, 1, 5)).toBe(1 + Math.floor(95 / 2));
    // maxFullEvals counts full passes over train + val: 4 x 15 = 60 metric calls.
    expect(plannedOptimizerUnits('GEPA', { maxFullEvals: 4 }, 10, 1, 5)).toBe(1 + Math.floor(55 / 6));
    // Otherwise the auto preset's budget (light by default, and for an unknown preset).
    const light = 1 + maxIterations(presetMetricCalls('light', 1, 5), 5, 3);
    expect(plannedOptimizerUnits('GEPA', {}, 10, 1, 5)).toBe(light);
    expect(plannedOptimizerUnits('GEPA', { auto: 'extreme' }, 10, 1, 5)).toBe(light);
    expect(plannedOptimizerUnits('GEPA', { auto: 'heavy' }, 10, 2, 5)).toBe(1 + maxIterations(presetMetricCalls('heavy', 2, 5), 5, 3));
    expect(plannedOptimizerUnits('GEPA', { auto: 'heavy' }, 10, 2, 5)).toBeGreaterThan(plannedOptimizerUnits('GEPA', { auto: 'medium' }, 10, 2, 5));
    expect(plannedOptimizerUnits('GEPA', { auto: 'medium' }, 10, 2, 5)).toBeGreaterThan(plannedOptimizerUnits('GEPA', {}, 10, 2, 5));
  });
});

describe('run identity and outputs', () => {
  it('new run ids are unique and valid run ids; checkRunId keeps ids to a safe alphabet of 1-128 characters', () => {
    const a = newRunId();
    expect(a).toMatch(/^run-\d{8}T\d{6}-[0-9a-f]{6}$/);
    expect(checkRunId(a)).toBe(a);
    expect(newRunId()).not.toBe(a);
    expect(checkRunId('a'.repeat(128))).toBe('a'.repeat(128));
    expect(() => checkRunId('a'.repeat(129))).toThrow(RunParamsError);
    expect(() => checkRunId('.hidden')).toThrow(RunParamsError);
    expect(() => checkRunId('a/b')).toThrow(RunParamsError);
    expect(() => checkRunId('')).toThrow(RunParamsError);
    expect(checkRunId('9_a.b-c')).toBe('9_a.b-c');
  });

  it('the metric: the request\'s, else the workflow\'s dspy.metric (name or object), else exact match', () => {
    const config = (dspy?: unknown) => ({ workflow: { name: 'w', steps: [], ...(dspy !== undefined ? { dspy } : {}) } }) as never;
    expect(metricSpecOf({ metric: { name: 'f1' } }, config({ metric: 'other' }))).toEqual({ name: 'f1' });
    expect(metricSpecOf({}, config({ metric: 'contains' }))).toEqual({ name: 'contains' });
    expect(metricSpecOf({}, config({ metric: { name: 'judge', options: { passAt: 0.5 } } }))).toEqual({ name: 'judge', options: { passAt: 0.5 } });
    expect(metricSpecOf({}, config({ metric: { options: {} } }))).toEqual({ name: 'exact_match' });
    expect(metricSpecOf({}, config())).toEqual({ name: 'exact_match' });
  });

  it('outputs go under outDir (the current directory by default); the journal under .elexirion/runs/RUN', () => {
    expect(resolveOutDir(undefined, '/tmp/x')).toBe('/tmp/x');
    expect(resolveOutDir('out', '/tmp/x')).toBe('/tmp/x/out');
    expect(runDirOf('/tmp/x', 'r1')).toBe(join('/tmp/x', '.elexirion', 'runs', 'r1'));
  });

  it('refuses an outDir that is a file, and a name longer than 200 bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-parts-'));
    const file = join(dir, 'f');
    writeFileSync(file, '');
    expect(() => checkOutputs(file, 'ok')).toThrow(/not a directory/);
    expect(() => checkOutputs(dir, 'é'.repeat(101))).toThrow();
    expect(() => checkOutputs(dir, 'a'.repeat(200))).not.toThrow();
    expect(() => checkOutputs(join(dir, 'missing'), 'ok')).not.toThrow();
  });
});

describe('usage of a run', () => {
  it('reports calls, cache hits, requests sent and aborted, tokens and cost as the meter counted them', async () => {
    const { runWithMeter } = await import('../../src/lm/meter.js');
    const { ManagedLM } = await import('../../src/lm/managed.js');
    const { DummyLM } = await import('../../src/dspy/dummy_lm.js');
    const { MemoryCache } = await import('../../src/lm/cache.js');
    const meter = new Meter({});
    const lm = new ManagedLM(new DummyLM(), { cache: new MemoryCache() });
    const hi = [{ role: 'user' as const, content: 'hi' }];
    await runWithMeter(meter, async () => {
      await lm.generate(hi);
      await lm.generate(hi); // the same request again: a cache hit, nothing sent
    });
    const s = meter.usage.snapshot();
    expect(s.inputTokens).toBeGreaterThan(0);
    expect(usageSummary(meter)).toEqual({
      calls: 2,
      cacheHits: 1,
      sent: 1,
      aborted: 0,
      inputTokens: s.inputTokens,
      outputTokens: s.outputTokens,
      costUsd: s.costUsd,
    });
  });
});
