import { describe, expect, it } from 'vitest';
import type { GepaReport } from '../../src/optimizers/gepa.js';
import type { CompileReport } from '../../src/optimizers/types.js';
import { ParetoReport } from '../../src/protocol/run.js';
import { paretoOf, ruleText } from '../../src/run/pareto.js';

const gepa: GepaReport = {
  candidates: [
    { index: 0, parents: [], origin: 'seed', iteration: 0, instructions: { a: 'x' }, score: 40, costUsd: 0.01, tokens: 300, latencyMs: 5 },
    { index: 1, parents: [0], origin: 'reflection', iteration: 2, instructions: { a: 'y' }, score: 70, costUsd: 0.02, tokens: 500, latencyMs: 7 },
  ],
  front: [
    { candidate: 0, score: 40, costUsd: 0.01, tokens: 300 },
    { candidate: 1, score: 70, costUsd: 0.02, tokens: 500 },
  ],
  selected: 0,
  selection: { cheapestWithin: 30 },
  metricCalls: { used: 28, max: 30 },
  iterations: 4,
  accepted: 1,
  warnings: [],
};

const base = { optimizer: 'GEPA', trials: [], usage: {}, cutShort: false, seed: 1 } as unknown as CompileReport;

describe('the pareto field of an optimize result', () => {
  it('reports GEPA\'s candidates, front, choice and rule in words, valid on the wire', () => {
    const { pareto } = paretoOf({ ...base, gepa } as CompileReport);
    expect(pareto).toMatchObject({ selected: 0, rule: 'cheapest within 30 points of the best', accepted: 1, iterations: 4, metricCalls: { used: 28, max: 30 } });
    expect(pareto!.candidates[1]).toEqual({ candidate: 1, score: 70, costUsd: 0.02, tokens: 500, parents: [0], origin: 'reflection', iteration: 2, latencyMs: 7 });
    expect(pareto!.front.map((p) => p.candidate)).toEqual([0, 1]);
    expect(ParetoReport.safeParse(pareto).success).toBe(true);
    expect(ruleText('best')).toBe('best score');
  });

  it('is absent for the other optimizers', () => {
    expect(paretoOf(base)).toEqual({});
  });
});
