import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { createOptimizer, GEPA, LabeledFewShot, MIPROv2, OPTIMIZER_NAMES } from '../../src/optimizers/index.js';
import { ESTIMATING_OPTIMIZER_NAMES } from '../../src/optimizers/factory.js';
import { exact, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

describe('createOptimizer', () => {
  it('builds every optimizer by name from JSON options and compiles through one shape', async () => {
    settings.configure({ lm: oracle(8).lm });
    const opts = {
      LabeledFewShot: { k: 2 },
      BootstrapFewShot: { maxBootstrappedDemos: 1, maxLabeledDemos: 2 },
      BootstrapFewShotWithRandomSearch: { numCandidatePrograms: 1, maxLabeledDemos: 2 },
      MIPROv2: { auto: null, numCandidates: 2, numTrials: 2, maxLabeledDemos: 2 },
      GEPA: { maxMetricCalls: 20 },
    };
    for (const name of OPTIMIZER_NAMES) {
      const { program, report } = await createOptimizer(name, opts[name]).compile(new QA(), { trainset: qa(4), valset: qa(4, 4), metric: exact });
      expect(program.compiled, name).toBe(true);
      expect(report.optimizer).toBe(name);
    }
  });

  it('names the bad field of invalid options, and refuses unknown optimizers', () => {
    expect(() => createOptimizer('BootstrapFewShot', { maxRounds: 0 })).toThrow(/maxRounds/);
    expect(() => createOptimizer('BootstrapFewShot', { maxRound: 2 })).toThrow(/maxRound/);
    expect(() => createOptimizer('COPRO')).toThrow(/unknown optimizer "COPRO"/);
  });
});

describe('createOptimizer options from JSON (the wire and CLI names)', () => {
  it('accepts every preset and selection choice the optimizers document', () => {
    for (const auto of ['light', 'medium', 'heavy', null] as const) {
      expect((createOptimizer('MIPROv2', { auto, ...(auto === null ? { numCandidates: 3 } : {}) }) as MIPROv2).o.auto).toBe(auto);
      expect((createOptimizer('GEPA', { auto, ...(auto === null ? { maxMetricCalls: 10 } : {}) }) as GEPA).o.auto).toBe(auto);
    }
    for (const candidateSelectionStrategy of ['pareto', 'current_best'] as const) {
      expect((createOptimizer('GEPA', { candidateSelectionStrategy }) as GEPA).o.candidateSelectionStrategy).toBe(candidateSelectionStrategy);
    }
    for (const componentSelector of ['round_robin', 'all'] as const) {
      expect((createOptimizer('GEPA', { componentSelector }) as GEPA).o.componentSelector).toBe(componentSelector);
    }
    expect((createOptimizer('GEPA', { select: 'best' }) as GEPA).o.select).toBe('best');
    expect((createOptimizer('GEPA', { select: { cheapestWithin: 0.02 } }) as GEPA).o.select).toEqual({ cheapestWithin: 0.02 });
    expect((createOptimizer('LabeledFewShot') as LabeledFewShot).k).toBe(16);
  });

  it('passes JSON options through to the optimizer', () => {
    const mipro = createOptimizer('MIPROv2', {
      auto: null, numCandidates: 4, numTrials: 7, maxBootstrappedDemos: 0, maxLabeledDemos: 3, maxRounds: 2, maxErrors: 5, metricThreshold: 0.5,
      minibatch: false, minibatchSize: 9, minibatchFullEvalSteps: 3, initTemperature: 0.7, viewDataBatchSize: 4,
      dataAware: false, programAware: false, tipAware: false, fewshotAware: false, nStartupTrials: 0, dryRun: true, callsPerForward: 2,
    }) as MIPROv2;
    expect(mipro.o).toMatchObject({
      numCandidates: 4, numTrials: 7, maxBootstrappedDemos: 0, maxLabeledDemos: 3, maxRounds: 2, maxErrors: 5, metricThreshold: 0.5,
      minibatch: false, minibatchSize: 9, minibatchFullEvalSteps: 3, initTemperature: 0.7, viewDataBatchSize: 4,
      dataAware: false, programAware: false, tipAware: false, fewshotAware: false, nStartupTrials: 0, dryRun: true, callsPerForward: 2,
    });
    const labeled = createOptimizer('LabeledFewShot', { k: 0, sample: false }) as LabeledFewShot;
    expect([labeled.k, labeled.sample]).toEqual([0, false]);
  });

  it('refuses options outside their range, naming the field', () => {
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['LabeledFewShot', { k: -1 }, /k/],
      ['LabeledFewShot', { k: 1.5 }, /k/],
      ['BootstrapFewShot', { maxErrors: 0 }, /maxErrors/],
      ['BootstrapFewShotWithRandomSearch', { numThreads: 0 }, /numThreads/],
      ['BootstrapFewShotWithRandomSearch', { restrict: [0.5] }, /restrict/],
      ['MIPROv2', { auto: 'huge' }, /auto/],
      ['MIPROv2', { numCandidates: 0, auto: null }, /numCandidates/],
      ['MIPROv2', { initTemperature: -0.1 }, /initTemperature/],
      ['GEPA', { valFraction: 0 }, /valFraction/],
      ['GEPA', { valFraction: 1 }, /valFraction/],
      ['GEPA', { select: 'cheapest' }, /select/],
      ['GEPA', { select: { cheapestWithin: -1 } }, /select/],
      ['GEPA', { select: { cheapestWithin: 0.1, other: 1 } }, /select/],
      ['GEPA', { maxMergeInvocations: -1 }, /maxMergeInvocations/],
    ];
    for (const [name, options, field] of bad) expect(() => createOptimizer(name, options), `${name} ${JSON.stringify(options)}`).toThrow(field);
  });

  it('gives the prompt and task models to MIPROv2, and GEPA the reflection model (else the prompt model) and the task model', () => {
    const prompt = oracle(1).lm;
    const task = oracle(1).lm;
    const reflection = oracle(1).lm;
    const mipro = createOptimizer('MIPROv2', {}, { promptModel: prompt, taskModel: task }) as MIPROv2;
    expect([mipro.o.promptModel, mipro.o.taskModel]).toEqual([prompt, task]);
    const gepa = createOptimizer('GEPA', {}, { promptModel: prompt, taskModel: task, reflectionModel: reflection }) as GEPA;
    expect(gepa.o.reflectionLm).toBe(reflection);
    expect(gepa.o.taskLm).toBe(task);
    expect((createOptimizer('GEPA', {}, { promptModel: prompt }) as GEPA).o.reflectionLm).toBe(prompt);
    const bare = createOptimizer('GEPA', {}) as GEPA;
    expect('reflectionLm' in bare.o || 'taskLm' in bare.o).toBe(false);
  });

  it('lists the optimizers that can estimate a run without spending', () => {
    expect([...ESTIMATING_OPTIMIZER_NAMES]).toEqual(['MIPROv2', 'GEPA']);
    expect(OPTIMIZER_NAMES).toEqual(['LabeledFewShot', 'BootstrapFewShot', 'BootstrapFewShotWithRandomSearch', 'MIPROv2', 'GEPA']);
  });
});
