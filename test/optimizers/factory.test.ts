import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { createOptimizer, OPTIMIZER_NAMES } from '../../src/optimizers/index.js';
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
