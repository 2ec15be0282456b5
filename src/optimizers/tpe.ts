/**
 * A seeded Tree-structured Parzen Estimator over categorical parameters: what MIPROv2 gets
 * from Optuna's `TPESampler(seed=..., multivariate=True)`, written for the one case we need
 * (every parameter is an index into a list of candidates).
 *
 * - The first `nStartupTrials` suggestions (10, Optuna's default) are uniform random.
 * - After that, the observations are split into the best `gamma(n)` (Optuna's default:
 *   min(ceil(0.1 n), 25)) and the rest. For each parameter, l(c) and g(c) are the smoothed
 *   category frequencies in the good and bad groups (each with a uniform prior of weight
 *   `priorWeight`). `nEiCandidates` (24) joint candidates are drawn from l, and the one that
 *   maximises sum over parameters of log l(c) - log g(c) (the expected-improvement proxy)
 *   is suggested. Ties go to the first drawn, so a seed fixes every suggestion.
 */
import { Rng } from '../util/rng.js';

export interface TpeOptions {
  seed: number;
  nStartupTrials?: number;
  nEiCandidates?: number;
  priorWeight?: number;
  gamma?: (n: number) => number;
}

export type TpeParams = Record<string, number>;

interface Observation {
  params: TpeParams;
  score: number;
  order: number;
}

export class CategoricalTPE {
  private readonly rng: Rng;
  private readonly names: string[];
  private readonly observations: Observation[] = [];
  private readonly nStartup: number;
  private readonly nCandidates: number;
  private readonly priorWeight: number;
  private readonly gamma: (n: number) => number;

  /** `space` maps each parameter name to its number of choices (>= 1). */
  constructor(
    private readonly space: Readonly<Record<string, number>>,
    opts: TpeOptions,
  ) {
    this.names = Object.keys(space).sort();
    for (const n of this.names) {
      const k = space[n] as number;
      if (!Number.isInteger(k) || k < 1) throw new RangeError(`TPE: parameter ${n} needs at least one choice, got ${k}`);
    }
    this.rng = new Rng(opts.seed);
    this.nStartup = opts.nStartupTrials ?? 10;
    this.nCandidates = opts.nEiCandidates ?? 24;
    this.priorWeight = opts.priorWeight ?? 1;
    this.gamma = opts.gamma ?? ((n) => Math.min(Math.ceil(0.1 * n), 25));
  }

  get size(): number {
    return this.observations.length;
  }

  /** Reports the score (higher is better) of a parameter set, suggested or not. */
  tell(params: TpeParams, score: number): void {
    this.observations.push({ params: { ...params }, score, order: this.observations.length });
  }

  suggest(): TpeParams {
    if (this.observations.length < this.nStartup) return this.uniform();
    const sorted = [...this.observations].sort((a, b) => b.score - a.score || a.order - b.order);
    const nGood = Math.max(1, Math.min(sorted.length - 1, this.gamma(sorted.length)));
    const good = sorted.slice(0, nGood);
    const bad = sorted.slice(nGood);
    const l: Record<string, number[]> = {};
    const g: Record<string, number[]> = {};
    for (const name of this.names) {
      l[name] = this.density(name, good);
      g[name] = this.density(name, bad);
    }
    let best: TpeParams | undefined;
    let bestValue = -Infinity;
    for (let i = 0; i < this.nCandidates; i++) {
      const cand: TpeParams = {};
      let value = 0;
      for (const name of this.names) {
        const probs = l[name] as number[];
        const c = this.draw(probs);
        cand[name] = c;
        value += Math.log(probs[c] as number) - Math.log((g[name] as number[])[c] as number);
      }
      if (value > bestValue) {
        bestValue = value;
        best = cand;
      }
    }
    return best ?? this.uniform();
  }

  private uniform(): TpeParams {
    const out: TpeParams = {};
    for (const name of this.names) out[name] = this.rng.int(this.space[name] as number);
    return out;
  }

  private density(name: string, obs: Observation[]): number[] {
    const k = this.space[name] as number;
    const w = new Array<number>(k).fill(this.priorWeight / k);
    for (const o of obs) {
      const c = o.params[name];
      if (c !== undefined && c >= 0 && c < k) w[c] = (w[c] as number) + 1;
    }
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / total);
  }

  private draw(probs: number[]): number {
    const u = this.rng.random();
    let acc = 0;
    for (let i = 0; i < probs.length; i++) {
      acc += probs[i] as number;
      if (u < acc) return i;
    }
    return probs.length - 1;
  }
}
