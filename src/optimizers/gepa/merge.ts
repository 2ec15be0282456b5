/**
 * GEPA's system-aware merge (GEPA+Merge): two candidates that descend from a common ancestor
 * and improved *different* predictors are combined, taking each predictor's instruction from
 * the lineage that changed it. Pure functions over the candidate pool's instructions and
 * ancestry; the optimizer scores the result.
 */
import type { Rng } from '../../util/rng.js';

/** instructions[candidate][predictorIndex]; parents[candidate] = its parents (none for the seed). */
export interface Lineage {
  instructions: readonly (readonly string[])[];
  parents: readonly (readonly number[])[];
}

export function ancestors(l: Lineage, c: number): Set<number> {
  const out = new Set<number>();
  const stack = [...(l.parents[c] ?? [])];
  while (stack.length) {
    const p = stack.pop() as number;
    if (out.has(p)) continue;
    out.add(p);
    stack.push(...(l.parents[p] ?? []));
  }
  return out;
}

export interface MergePlan {
  a: number;
  b: number;
  ancestor: number;
  instructions: string[];
}

/**
 * The merged instructions of `a` and `b` over `ancestor`, or undefined when the merge would add
 * nothing: a predictor changed by one side only takes that side's instruction; one changed by
 * both takes the instruction of the side with the better mean score (`better`); the merge must
 * take at least one change from each side (else it equals one of them).
 */
export function mergeInstructions(l: Lineage, a: number, b: number, ancestor: number, better: number): string[] | undefined {
  const ia = l.instructions[a] as readonly string[];
  const ib = l.instructions[b] as readonly string[];
  const io = l.instructions[ancestor] as readonly string[];
  let fromA = false;
  let fromB = false;
  const out = io.map((orig, k) => {
    const x = ia[k] as string;
    const y = ib[k] as string;
    if (x === y) return x;
    if (x === orig) {
      fromB = true;
      return y;
    }
    if (y === orig) {
      fromA = true;
      return x;
    }
    // Both changed it: the better candidate's version.
    if (better === a) fromA = true;
    else fromB = true;
    return better === a ? x : y;
  });
  return fromA && fromB ? out : undefined;
}

/**
 * Picks a merge among the frontier candidates: a seeded pair with a common ancestor whose
 * merge is new (`tried` holds the instruction sets already tried, as JSON). Tries pairs in a
 * seeded order; undefined when none qualifies.
 */
export function planMerge(
  l: Lineage,
  frontier: readonly number[],
  meanScore: (c: number) => number,
  tried: Set<string>,
  rng: Rng,
): MergePlan | undefined {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < frontier.length; i++) {
    for (let j = i + 1; j < frontier.length; j++) pairs.push([frontier[i] as number, frontier[j] as number]);
  }
  rng.shuffle(pairs);
  for (const [a, b] of pairs) {
    const ancA = ancestors(l, a);
    const ancB = ancestors(l, b);
    if (ancA.has(b) || ancB.has(a)) continue; // one descends from the other: nothing to combine
    const common = [...ancA].filter((x) => ancB.has(x)).sort((x, y) => y - x);
    for (const ancestor of common) {
      const better = meanScore(a) >= meanScore(b) ? a : b;
      const instructions = mergeInstructions(l, a, b, ancestor, better);
      if (!instructions) continue;
      const key = JSON.stringify(instructions);
      if (tried.has(key) || l.instructions.some((ins) => JSON.stringify(ins) === key)) continue;
      return { a, b, ancestor, instructions };
    }
  }
  return undefined;
}
