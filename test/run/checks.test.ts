// The checks a run makes before it spends, called directly: which optimizer names and options
// pass, and which LMs a dollar budget can be enforced on.
import { describe, expect, it } from 'vitest';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { PriceTable } from '../../src/lm/prices.js';
import type { LM } from '../../src/lm/types.js';
import { checkBudget, checkOptimizer, RunParamsError } from '../../src/run/index.js';

const lm = new ManagedLM(new DummyLM(), { cache: false });
const priced = (model: string, provider = 'anthropic', billable?: boolean) =>
  new ManagedLM(Object.assign(new DummyLM(), { model, provider, ...(billable !== undefined ? { billable } : {}) }), { cache: false, prices: new PriceTable() });

describe('checkOptimizer', () => {
  it('builds a known optimizer with its options', () => {
    expect(checkOptimizer('BootstrapFewShot', { maxBootstrappedDemos: 2 }, lm).name).toBe('BootstrapFewShot');
    expect(checkOptimizer('MIPROv2', { auto: 'light', dryRun: true }, lm).name).toBe('MIPROv2');
  });

  it('refuses an unknown optimizer under optimizer.name, and a bad option under its own path', () => {
    const unknown = (() => {
      try {
        checkOptimizer('Nope', {}, lm);
      } catch (e) {
        return e as RunParamsError;
      }
      return undefined;
    })();
    expect(unknown).toBeInstanceOf(RunParamsError);
    expect(unknown!.issues[0]!.path).toEqual(['optimizer', 'name']);
    expect(unknown!.message).toMatch(/^optimizer\.name: /);
    try {
      checkOptimizer('BootstrapFewShotWithRandomSearch', { numCandidatePrograms: 'many' }, lm);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RunParamsError);
      expect((e as RunParamsError).issues[0]!.path).toEqual(['optimizer', 'options', 'numCandidatePrograms']);
    }
  });
});

describe('checkOptimizer: each refusal under the field the user wrote', () => {
  const issuesOf = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(RunParamsError);
      return (e as RunParamsError).issues;
    }
    throw new Error('expected a refusal');
  };

  it('a bad element of a list option is named by its index', () => {
    const issues = issuesOf(() => checkOptimizer('BootstrapFewShotWithRandomSearch', { restrict: [0, 'x'] }, lm));
    expect(issues.map((i) => i.path)).toEqual([['optimizer', 'options', 'restrict', 1]]);
  });

  it('options the optimizer refuses together are reported under optimizer.options', () => {
    const issues = issuesOf(() => checkOptimizer('MIPROv2', { auto: 'light', numCandidates: 3 }, lm));
    expect(issues).toEqual([{ path: ['optimizer', 'options'], message: expect.stringMatching(/auto/) }]);
  });

  it('a dry run is refused for an optimizer that cannot estimate, accepted for one that can', () => {
    expect(issuesOf(() => checkOptimizer('BootstrapFewShot', { dryRun: true }, lm)).map((i) => i.path)).toEqual([['optimizer', 'options', 'dryRun']]);
    expect(checkOptimizer('GEPA', { dryRun: true }, lm).name).toBe('GEPA');
  });

  it('a reflection LM is for GEPA only', () => {
    expect(issuesOf(() => checkOptimizer('MIPROv2', {}, lm, lm)).map((i) => i.path)).toEqual([['reflectionLm']]);
    expect(checkOptimizer('GEPA', {}, lm, lm).name).toBe('GEPA');
  });
});

describe('checkBudget', () => {
  it('accepts no budget, a call budget, or a USD budget on a priced model', () => {
    expect(() => checkBudget(undefined, priced('no-such-model'))).not.toThrow();
    expect(() => checkBudget({}, priced('no-such-model'))).not.toThrow();
    expect(() => checkBudget({ maxUsd: 1 }, priced('claude-haiku-4-5'))).not.toThrow();
  });

  it('refuses a USD budget on a billable model without a price; the offline LM is not billable', () => {
    expect(() => checkBudget({ maxUsd: 1 }, priced('no-such-model'))).toThrow(RunParamsError);
    expect(() => checkBudget({ maxUsd: 1 }, priced('no-such-model', 'dummy'))).not.toThrow();
    expect(() => checkBudget({ maxUsd: 1 }, priced('no-such-model', 'dummy', true))).toThrow(RunParamsError);
    expect(() => checkBudget({ maxUsd: 1 }, priced('no-such-model', 'anthropic', false))).not.toThrow();
  });

  it('leaves an LM it does not manage to its owner', () => {
    const bare: LM = { provider: 'x', model: 'no-such-model', generate: async () => ({ text: '', usage: { inputTokens: 0, outputTokens: 0 }, model: 'm', cached: false, costUsd: 0 }) };
    expect(() => checkBudget({ maxUsd: 1 }, bare)).not.toThrow();
  });
});
