/**
 * GEPA's candidate selection and the quality/cost front, as pure functions over score tables.
 *
 * The per-example Pareto frontier (GEPA, Agrawal et al. 2025, section 3.2): for every validation
 * example, the candidates that reach the best score any candidate reached on it. A candidate on
 * at least one example's front is a frontier candidate. Candidates strictly dominated by another
 * (at least as good on every example, better on one) are removed, then a parent is drawn with
 * probability proportional to the number of examples whose front holds it: candidates that win
 * on many examples are tried more, but a candidate best on one rare example keeps a chance,
 * which is what keeps the search from collapsing onto one lineage.
 */
import type { Rng } from '../../util/rng.js';

/** scores[candidate][example]. */
export type ScoreTable = readonly (readonly number[])[];

/** True when `a` is at least as good as `b` on every example and better on one. */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let better = false;
  for (let j = 0; j < a.length; j++) {
    const x = a[j] as number;
    const y = b[j] as number;
    if (x < y) return false;
    if (x > y) better = true;
  }
  return better;
}

/** For every example, the candidates reaching its best score (indices, ascending). */
export function exampleFronts(scores: ScoreTable): number[][] {
  const n = scores[0]?.length ?? 0;
  const fronts: number[][] = [];
  for (let j = 0; j < n; j++) {
    let best = -Infinity;
    for (const row of scores) best = Math.max(best, row[j] as number);
    const front: number[] = [];
    scores.forEach((row, c) => {
      if ((row[j] as number) === best) front.push(c);
    });
    fronts.push(front);
  }
  return fronts;
}

/**
 * Frontier candidates with how many examples' fronts hold each, dominated candidates removed.
 * Ascending candidate order; a frequency of 0 never appears.
 */
export function frontierFrequencies(scores: ScoreTable): Array<{ candidate: number; frequency: number }> {
  const fronts = exampleFronts(scores);
  const onFront = new Set<number>();
  for (const f of fronts) for (const c of f) onFront.add(c);
  const kept = [...onFront].filter((c) => ![...onFront].some((d) => d !== c && dominates(scores[d] as number[], scores[c] as number[])));
  const keptSet = new Set(kept);
  const freq = new Map<number, number>();
  for (const f of fronts) for (const c of f) if (keptSet.has(c)) freq.set(c, (freq.get(c) ?? 0) + 1);
  return [...freq.entries()].sort((a, b) => a[0] - b[0]).map(([candidate, frequency]) => ({ candidate, frequency }));
}

/** Draws a parent from the frontier, weighted by frequency (seeded). */
export function sampleParent(scores: ScoreTable, rng: Rng): number {
  const freq = frontierFrequencies(scores);
  if (freq.length === 0) return 0;
  const total = freq.reduce((a, f) => a + f.frequency, 0);
  let r = rng.random() * total;
  for (const f of freq) {
    r -= f.frequency;
    if (r < 0) return f.candidate;
  }
  return (freq[freq.length - 1] as { candidate: number }).candidate;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The candidate with the best mean score; the earliest on ties. */
export function bestByMean(scores: ScoreTable): number {
  let best = 0;
  let bestMean = -Infinity;
  scores.forEach((row, c) => {
    const m = mean(row);
    if (m > bestMean) {
      bestMean = m;
      best = c;
    }
  });
  return best;
}

export interface CostPoint {
  candidate: number;
  /** Mean score, 0-100. */
  score: number;
  /** USD per execution (0 when the LM is not priced). */
  costUsd: number;
  /** Tokens (in + out) per execution. */
  tokens: number;
}

/**
 * The quality/cost Pareto front: candidates no other candidate beats on score without costing
 * more, nor undercuts on cost without scoring less. Cost is USD when any candidate has a price,
 * else tokens. Sorted by cost, cheapest first.
 */
export function qualityCostFront(points: readonly CostPoint[]): CostPoint[] {
  const priced = points.some((p) => p.costUsd > 0);
  const cost = (p: CostPoint) => (priced ? p.costUsd : p.tokens);
  const front = points.filter(
    (p) => !points.some((q) => q !== p && q.score >= p.score && cost(q) <= cost(p) && (q.score > p.score || cost(q) < cost(p))),
  );
  return front.sort((a, b) => cost(a) - cost(b) || b.score - a.score || a.candidate - b.candidate);
}

/** How the run chooses its program among the candidates. */
export type SelectionRule = 'best' | { cheapestWithin: number };

/** Applies the rule: the best mean, or the cheapest candidate within N points of the best. */
export function chooseByRule(points: readonly CostPoint[], rule: SelectionRule): number {
  if (points.length === 0) return 0;
  const best = points.reduce((a, p) => (p.score > a.score ? p : a), points[0] as CostPoint);
  if (rule === 'best') return best.candidate;
  const priced = points.some((p) => p.costUsd > 0);
  const within = points.filter((p) => p.score >= best.score - rule.cheapestWithin);
  within.sort((a, b) => (priced ? a.costUsd - b.costUsd : 0) || a.tokens - b.tokens || b.score - a.score || a.candidate - b.candidate);
  return (within[0] as CostPoint).candidate;
}
