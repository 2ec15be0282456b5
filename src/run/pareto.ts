/**
 * GEPA's quality/cost Pareto front as an `optimize` result reports it (`pareto`): every
 * candidate with its score and cost per execution, the front, the candidate selected and the
 * rule that selected it, in words.
 */
import type { GepaReport } from '../optimizers/gepa.js';
import type { CompileReport } from '../optimizers/types.js';
import type { ParetoReport } from '../protocol/run.js';

/** The rule as a user reads it. */
export function ruleText(rule: GepaReport['selection']): string {
  return rule === 'best' ? 'best score' : `cheapest within ${rule.cheapestWithin} points of the best`;
}

export function paretoReport(g: GepaReport): ParetoReport {
  return {
    candidates: g.candidates.map((c) => ({
      candidate: c.index,
      score: c.score,
      costUsd: c.costUsd,
      tokens: c.tokens,
      parents: c.parents,
      origin: c.origin,
      iteration: c.iteration,
      latencyMs: c.latencyMs,
    })),
    front: g.front.map((p) => ({ candidate: p.candidate, score: p.score, costUsd: p.costUsd, tokens: p.tokens })),
    selected: g.selected,
    rule: ruleText(g.selection),
    selection: g.selection,
    metricCalls: g.metricCalls,
    iterations: g.iterations,
    accepted: g.accepted,
    warnings: g.warnings,
  };
}

/** `{pareto}` when the compile report is a GEPA run's, else nothing. */
export function paretoOf(report: CompileReport): { pareto?: ParetoReport } {
  const g = (report as CompileReport & { gepa?: GepaReport }).gepa;
  return g ? { pareto: paretoReport(g) } : {};
}
