/**
 * GEPA: reflective prompt evolution (Agrawal et al., "GEPA: Reflective Prompt Evolution Can
 * Outperform Reinforcement Learning", arXiv 2507.19457; DSPy's `dspy.GEPA`).
 *
 * A pool of candidates (one instruction per predictor; demos are left as the student has them),
 * each scored on every validation example. Each iteration:
 *
 *  1. picks a parent: from the per-example Pareto frontier, weighted by how many examples it is
 *     best on (`candidateSelectionStrategy: 'pareto'`, the default), or the best mean
 *     (`'current_best'`);
 *  2. picks the predictor to mutate: round robin per candidate (`componentSelector`), or all;
 *  3. runs the parent on a minibatch of the trainset (`reflectionMinibatchSize`, default 3;
 *     seeded epochs), recording every predictor call and the metric's score and feedback; when
 *     the parent is already perfect on it (`skipPerfectScore`), the iteration ends there;
 *  4. asks the reflection LM (`reflectionLm`, default the task LM) for a new instruction from
 *     that predictor's inputs, outputs and feedback (reflection.ts); an empty, unchanged or
 *     over-long (`maxInstructionChars`) proposal is rejected without scoring;
 *  5. runs the child on the same minibatch: accepted when its total score beats the parent's,
 *     then scored on the full valset and added to the pool.
 *
 *  With `useMerge` (off by default: the paper found it helps some models and costs others), an
 *  iteration after a new candidate is found may instead merge two frontier candidates that
 *  improved different predictors of a common ancestor (merge.ts), accepted when it scores at
 *  least as well as both on a valset subsample.
 *
 * Budget: metric calls (one example scored = one call): `maxMetricCalls`, `maxFullEvals`, or a
 * preset `auto` (light/medium/heavy; default light), as DSPy. An iteration starts only when the
 * budget can pay for all of it (two minibatches and a full valset pass), so the run never makes
 * one metric call past the cap; LM calls, tokens, USD and wall time (reflection included) are
 * capped by the run's meter like every optimizer. A budget that cannot pay for one full round
 * is reported as a warning before anything is spent, and a run in which no proposal was
 * accepted says so.
 *
 * Multi-objective: every candidate carries its cost per execution (tokens, USD) and latency,
 * measured while it was scored; the report holds the quality/cost Pareto front, and the program
 * returned is chosen by `select`: `'best'` (best mean score; earliest on ties) or
 * `{cheapestWithin: N}` (the cheapest candidate within N points of the best).
 *
 * Without a valset, the trainset is split (seeded) into train and validation parts
 * (`valFraction`, default 0.5). Every iteration is journaled once finished, so a resumed run
 * replays the same choices and ends with the identical program.
 */
import { type Example, type Metric, type Module, settings } from '../dspy/index.js';
import type { LM } from '../lm/types.js';
import { GEPA_PRESET_CANDIDATES, maxIterations, oneRoundMetricCalls, presetMetricCalls, type GepaPreset } from './gepa/budget.js';
import { planMerge } from './gepa/merge.js';
import { bestByMean, chooseByRule, frontierFrequencies, mean, qualityCostFront, sampleParent, type CostPoint, type SelectionRule } from './gepa/pareto.js';
import { proposeFromReflection, type ReflectionRecord } from './gepa/reflection.js';
import { MetricCallBudget, scoreBatch, type BatchScore, type ScoredExample } from './gepa/scoring.js';
import { estimatedCostUsd, meanExampleChars } from './estimate.js';
import { programToJson } from './program_io.js';
import { runCompile, type RunContext, type RunOptions } from './run.js';
import { roundScore } from './evaluate.js';
import { deriveSeed, Rng } from '../util/rng.js';
import type { CompileOptions, CompileReport, CompileResult, RunEstimate, Optimizer } from './types.js';

export interface GEPAOptions {
  /** Budget preset (DSPy's `auto`); default `light` when no other budget is given. */
  auto?: GepaPreset | null;
  maxMetricCalls?: number;
  /** Budget as full passes over train + val (DSPy's `max_full_evals`). */
  maxFullEvals?: number;
  reflectionMinibatchSize?: number;
  candidateSelectionStrategy?: 'pareto' | 'current_best';
  componentSelector?: 'round_robin' | 'all';
  useMerge?: boolean;
  maxMergeInvocations?: number;
  /** Validation examples a merged candidate is first tried on. */
  mergeSubsampleSize?: number;
  skipPerfectScore?: boolean;
  /** The metric value counted as perfect (DSPy's `perfect_score`). */
  perfectScore?: number;
  reflectionLm?: LM;
  taskLm?: LM;
  /** Longest instruction accepted from the reflection LM (characters). */
  maxInstructionChars?: number;
  /** Share of the trainset held out for validation when no valset is given. */
  valFraction?: number;
  select?: SelectionRule;
  /** Spend nothing: return the estimate (report.estimate) and the unchanged student. */
  dryRun?: boolean;
  /** LM calls one program run makes, for the estimate (default: one per predictor). */
  callsPerForward?: number;
}

export interface GepaCandidate {
  index: number;
  parents: number[];
  origin: 'seed' | 'reflection' | 'merge';
  /** The iteration that produced it (0 for the seed). */
  iteration: number;
  /** Instruction per predictor path. */
  instructions: Record<string, string>;
  /** Mean validation score, 0-100. */
  score: number;
  costUsd: number;
  tokens: number;
  latencyMs: number;
}

export interface GepaReport {
  candidates: GepaCandidate[];
  /** Quality/cost Pareto front (candidate indices with score and cost), cheapest first. */
  front: CostPoint[];
  selected: number;
  selection: SelectionRule;
  metricCalls: { used: number; max: number };
  iterations: number;
  accepted: number;
  warnings: string[];
}

interface CandidateState {
  instructions: string[];
  parents: number[];
  origin: GepaCandidate['origin'];
  iteration: number;
  scores: number[];
  cost: BatchScore['cost'];
}

type IterRecord =
  | { kind: 'skip'; parent: number; predictor: number; metricCalls: number; parentScores: number[] }
  | {
      kind: 'reflect';
      parent: number;
      predictor: number;
      metricCalls: number;
      parentScores: number[];
      instruction: string;
      accepted: boolean;
      reason?: string;
      childScores?: number[];
      valScores?: number[];
      cost?: BatchScore['cost'];
    }
  | {
      kind: 'merge';
      a: number;
      b: number;
      ancestor: number;
      instructions: string[];
      subsample: number[];
      metricCalls: number;
      childSub: number[];
      accepted: boolean;
      valScores?: number[];
      cost?: BatchScore['cost'];
    };

interface Plan {
  trainset: Example[];
  valset: Example[];
  paths: string[];
  maxMetricCalls: number;
  minibatch: number;
}

const DEFAULTS: {
  reflectionMinibatchSize: number;
  candidateSelectionStrategy: 'pareto' | 'current_best';
  componentSelector: 'round_robin' | 'all';
  useMerge: boolean;
  maxMergeInvocations: number;
  mergeSubsampleSize: number;
  skipPerfectScore: boolean;
  perfectScore: number;
  maxInstructionChars: number;
  valFraction: number;
} = {
  reflectionMinibatchSize: 3,
  candidateSelectionStrategy: 'pareto',
  componentSelector: 'round_robin',
  useMerge: false,
  maxMergeInvocations: 5,
  mergeSubsampleSize: 5,
  skipPerfectScore: true,
  perfectScore: 1,
  maxInstructionChars: 8000,
  valFraction: 0.5,
};

/** Epoch-shuffled minibatches over the trainset (seeded), as GEPA's batch sampler. */
class EpochSampler {
  private order: number[] = [];
  private pos = 0;
  constructor(
    private readonly size: number,
    private readonly rng: Rng,
  ) {}

  next(k: number): number[] {
    const out: number[] = [];
    const take = Math.min(k, this.size);
    while (out.length < take) {
      if (this.pos >= this.order.length) {
        this.order = this.rng.shuffle(Array.from({ length: this.size }, (_, i) => i));
        this.pos = 0;
      }
      const i = this.order[this.pos++] as number;
      if (!out.includes(i)) out.push(i);
    }
    return out;
  }
}

export class GEPA implements Optimizer {
  readonly name = 'GEPA';
  readonly o: typeof DEFAULTS & Omit<GEPAOptions, keyof typeof DEFAULTS> & { select: SelectionRule };

  constructor(opts: GEPAOptions = {}) {
    const budgets = [opts.auto != null, opts.maxMetricCalls !== undefined, opts.maxFullEvals !== undefined].filter(Boolean).length;
    if (budgets > 1) throw new Error('GEPA: give exactly one of auto, maxMetricCalls, maxFullEvals');
    const o = { ...DEFAULTS, ...stripUndefined(opts), select: opts.select ?? ('best' as SelectionRule) };
    if (budgets === 0) o.auto = 'light';
    if (o.auto != null && !(o.auto in GEPA_PRESET_CANDIDATES)) throw new Error(`GEPA: auto must be light, medium or heavy, got ${String(o.auto)}`);
    if (!(o.valFraction > 0 && o.valFraction < 1)) throw new Error('GEPA: valFraction must be between 0 and 1');
    if (!Number.isInteger(o.reflectionMinibatchSize) || o.reflectionMinibatchSize < 1) throw new Error('GEPA: reflectionMinibatchSize must be a positive integer');
    this.o = o;
  }

  private plan(student: Module, opts: CompileOptions): Plan {
    let trainset = [...opts.trainset];
    let valset: Example[];
    if (opts.valset && opts.valset.length > 0) valset = [...opts.valset];
    else {
      if (trainset.length < 2) throw new Error('GEPA: needs a valset, or a trainset of at least 2 examples to split');
      const shuffled = new Rng(deriveSeed(opts.seed ?? 0, 'gepa-split')).shuffle([...trainset]);
      const nVal = Math.min(shuffled.length - 1, Math.max(1, Math.round(shuffled.length * this.o.valFraction)));
      valset = shuffled.slice(0, nVal);
      trainset = shuffled.slice(nVal);
    }
    if (trainset.length === 0) throw new Error('GEPA: the trainset is empty');
    const paths = student.namedPredictors().map(([p]) => p);
    if (paths.length === 0) throw new Error('GEPA: the program has no predictors to optimize');
    const minibatch = Math.min(this.o.reflectionMinibatchSize, trainset.length);
    const maxMetricCalls =
      this.o.maxMetricCalls ??
      (this.o.maxFullEvals !== undefined
        ? this.o.maxFullEvals * (trainset.length + valset.length)
        : presetMetricCalls(this.o.auto as GepaPreset, paths.length, valset.length));
    return { trainset, valset, paths, maxMetricCalls, minibatch };
  }

  /** What a run would spend at most; makes no LM call. */
  estimate(student: Module, opts: CompileOptions): RunEstimate {
    const p = this.plan(student, opts);
    const cpf = this.o.callsPerForward ?? p.paths.length;
    const iterations = maxIterations(p.maxMetricCalls, p.valset.length, p.minibatch);
    const evaluation = p.maxMetricCalls * cpf;
    const exChars = meanExampleChars([...p.trainset, ...p.valset]);
    const taskIn = Math.ceil((800 + exChars) / 4);
    const taskOut = Math.ceil(exChars / 8) + 10;
    const reflIn = Math.ceil((1500 + p.minibatch * 3 * exChars) / 4);
    const reflOut = 400;
    const tokens = { input: evaluation * taskIn + iterations * reflIn, output: evaluation * taskOut + iterations * reflOut };
    const est: RunEstimate = {
      calls: {
        bootstrap: { expected: 0, max: 0 },
        proposal: iterations,
        evaluation,
        total: { expected: evaluation + iterations, max: evaluation + iterations },
      },
      tokens,
      numCandidates: iterations + 1,
      numTrials: iterations,
      fullEvals: Math.floor(p.maxMetricCalls / Math.max(1, p.valset.length)),
      valsetSize: p.valset.length,
      trainsetSize: p.trainset.length,
      minibatchSize: p.minibatch,
      predictors: p.paths.length,
      callsPerForward: cpf,
      summary: '',
    };
    const task = estimatedCostUsd(this.o.taskLm ?? settings.lm, evaluation, taskIn, taskOut);
    const refl = estimatedCostUsd(this.o.reflectionLm ?? this.o.taskLm ?? settings.lm, iterations, reflIn, reflOut);
    if (task !== undefined && refl !== undefined) est.costUsd = { expected: task + refl, max: task + refl };
    const warn = this.budgetWarning(p);
    est.summary =
      `GEPA dry run: at most ${p.maxMetricCalls} metric calls (${iterations} reflective iterations at most) on ${p.valset.length} val / ${p.trainset.length} train examples; ` +
      `LM calls at most ${est.calls.total.max} (task ${evaluation}, reflection ${iterations}); ~${tokens.input} input + ${tokens.output} output tokens` +
      (est.costUsd ? `; at most ~$${est.costUsd.max.toFixed(4)}` : '; cost unknown (LM not priced)') +
      (warn ? `. Warning: ${warn}` : '');
    return est;
  }

  private budgetWarning(p: Plan): string | undefined {
    const need = oneRoundMetricCalls(p.valset.length, p.minibatch);
    if (p.maxMetricCalls >= need) return undefined;
    return `the budget of ${p.maxMetricCalls} metric calls cannot cover one full round (${need}: the seed on ${p.valset.length} validation examples, parent and child on a minibatch of ${p.minibatch}, and the child on the validation set); the run can only score the program as written`;
  }

  async compile<M extends Module>(student: M, opts: CompileOptions & RunOptions): Promise<CompileResult<M> & { gepa?: GepaReport }> {
    const p = this.plan(student, opts);
    if (this.o.dryRun) {
      const estimate = this.estimate(student, opts);
      const warn = this.budgetWarning(p);
      if (warn) opts.onProgress?.({ phase: 'warning', calls: 0, costUsd: 0, message: `GEPA: ${warn}` });
      opts.onProgress?.({ phase: 'dry_run', calls: 0, costUsd: 0, message: estimate.summary });
      const usage = { calls: 0, cacheHits: 0, sent: 0, aborted: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, byModel: {} };
      const report: CompileReport = { optimizer: this.name, trials: [], usage, cutShort: false, seed: opts.seed ?? 0, estimate };
      return { program: student.deepCopy(), report };
    }
    const { reflectionLm: _r, taskLm: _t, dryRun: _d, ...hashable } = this.o;
    let gepa: GepaReport | undefined;
    const state: { pool: CandidateState[]; finish?: () => { program: M; report: GepaReport } } = { pool: [] };
    const result = await runCompile(
      {
        optimizer: this.name,
        opts,
        config: {
          options: hashable,
          reflectionLm: this.o.reflectionLm ? `${this.o.reflectionLm.provider}:${this.o.reflectionLm.model}` : null,
          taskLm: this.o.taskLm ? `${this.o.taskLm.provider}:${this.o.taskLm.model}` : null,
          trainset: p.trainset,
          valset: p.valset,
          maxMetricCalls: p.maxMetricCalls,
          student: programToJson(student),
        },
      },
      async (ctx) => {
        await this.run(ctx, student, opts.metric, p, state);
        const done = (state.finish as () => { program: M; report: GepaReport })();
        gepa = done.report;
        return done.program;
      },
      () => {
        if (!state.finish) return student.deepCopy() as M;
        const done = state.finish();
        gepa = done.report;
        return done.program;
      },
    );
    if (gepa) Object.assign(result.report, { gepa });
    return { ...result, ...(gepa ? { gepa } : {}) };
  }

  private inTask<T>(fn: () => Promise<T>): Promise<T> {
    return this.o.taskLm ? settings.context({ lm: this.o.taskLm }, fn) : fn();
  }

  private build<M extends Module>(student: M, instructions: readonly string[]): M {
    const prog = student.deepCopy() as M;
    prog.namedPredictors().forEach(([, pred], i) => {
      const ins = instructions[i];
      if (ins !== undefined && ins !== pred.signature.instructions) pred.signature = pred.signature.withInstructions(ins);
    });
    return prog;
  }

  private async run<M extends Module>(
    ctx: RunContext,
    student: M,
    metric: Metric,
    p: Plan,
    state: { pool: CandidateState[]; finish?: () => { program: M; report: GepaReport } },
  ): Promise<void> {
    const o = this.o;
    const budget = new MetricCallBudget(p.maxMetricCalls);
    const pool = state.pool;
    const warnings: string[] = [];
    const selectRng = new Rng(deriveSeed(ctx.seed, 'gepa-select'));
    const mergeRng = new Rng(deriveSeed(ctx.seed, 'gepa-merge'));
    const sampler = new EpochSampler(p.trainset.length, new Rng(deriveSeed(ctx.seed, 'gepa-minibatch')));
    const nextPredictor: number[] = [];
    const triedMerges = new Set<string>();
    let mergesDue = 0;
    let merges = 0;
    let iterations = 0;
    let accepted = 0;
    const V = p.valset.length;
    const b = p.minibatch;
    const score100 = (xs: readonly number[]) => roundScore(100 * mean(xs));
    const score = (prog: Module, examples: readonly Example[]) => this.inTask(() => scoreBatch(ctx, prog, examples, metric, budget));
    const sum = (xs: readonly number[]) => xs.reduce((acc, x) => acc + x, 0);
    // A child that passed its minibatch (a reflection or a merge) is scored on the whole valset,
    // as gepa's full evaluation is; the record keeps every metric call the step made, so a
    // resumed run reserves the same budget without calling the metric again.
    const settle = async (rec: { metricCalls: number; valScores?: number[]; cost?: BatchScore['cost'] }, child: Module, ok: boolean, before: number) => {
      if (ok) {
        const full = await score(child, p.valset);
        rec.valScores = full.items.map((x) => x.score);
        rec.cost = full.cost;
      }
      rec.metricCalls = budget.used - before;
    };
    const points = (): CostPoint[] => pool.map((c, i) => ({ candidate: i, score: score100(c.scores), costUsd: c.cost.costUsd, tokens: c.cost.tokens }));
    const addCandidate = (c: CandidateState) => {
      pool.push(c);
      nextPredictor.push(0);
      ctx.offer(this.build(student, c.instructions), score100(c.scores));
    };

    state.finish = () => {
      const pts = points();
      const selected = pts.length ? chooseByRule(pts, o.select) : 0;
      const chosen = pool[selected];
      const program = chosen ? this.build(student, chosen.instructions) : (student.deepCopy() as M);
      const report: GepaReport = {
        candidates: pool.map((c, i) => ({
          index: i,
          parents: c.parents,
          origin: c.origin,
          iteration: c.iteration,
          instructions: Object.fromEntries(p.paths.map((path, k) => [path, c.instructions[k] as string])),
          score: score100(c.scores),
          costUsd: c.cost.costUsd,
          tokens: c.cost.tokens,
          latencyMs: c.cost.latencyMs,
        })),
        front: qualityCostFront(pts),
        selected,
        selection: o.select,
        metricCalls: { used: budget.used, max: p.maxMetricCalls },
        iterations,
        accepted,
        warnings: [...warnings],
      };
      if (chosen) {
        ctx.bestScore = score100(chosen.scores);
        ctx.bestProgram = program;
      }
      return { program, report };
    };

    const warn = this.budgetWarning(p);
    if (warn) {
      warnings.push(warn);
      ctx.progress({ phase: 'warning', message: `GEPA: ${warn}` });
    }

    // The seed candidate: the student's own instructions, scored on the whole valset.
    const seedInstructions = student.namedPredictors().map(([, pred]) => pred.signature.instructions);
    const savedSeed = ctx.journal?.get<{ scores: number[]; cost: BatchScore['cost'] }>('gepa/seed');
    let seed: { scores: number[]; cost: BatchScore['cost'] };
    if (savedSeed) {
      budget.reserve(V);
      seed = savedSeed;
    } else {
      ctx.checkStop();
      const r = await score(this.build(student, seedInstructions), p.valset);
      seed = { scores: r.items.map((x) => x.score), cost: r.cost };
      ctx.journal?.append('gepa/seed', seed);
    }
    addCandidate({ instructions: seedInstructions, parents: [], origin: 'seed', iteration: 0, scores: seed.scores, cost: seed.cost });
    ctx.baselineScore = score100(seed.scores);
    ctx.trials.push({ trial: 0, kind: 'baseline', score: ctx.baselineScore, size: V, ...(savedSeed ? { resumed: true } : {}) });
    ctx.progress({ phase: 'full_eval', trial: 0, score: ctx.baselineScore, bestScore: ctx.baselineScore, message: 'GEPA: seed candidate' });

    const table = () => pool.map((c) => c.scores);
    for (let t = 1; ; t++) {
      ctx.checkStop();
      const tryMerge = o.useMerge && mergesDue > 0 && merges < o.maxMergeInvocations;
      const key = `gepa/iter/${t}`;
      const saved = ctx.journal?.get<IterRecord>(key);

      if (tryMerge) {
        mergesDue -= 1;
        const frontier = frontierFrequencies(table()).map((f) => f.candidate);
        const plan = planMerge(
          { instructions: pool.map((c) => c.instructions), parents: pool.map((c) => c.parents) },
          frontier,
          (c) => mean((pool[c] as CandidateState).scores),
          triedMerges,
          mergeRng,
        );
        if (plan) {
          const k = Math.min(o.mergeSubsampleSize, V);
          if (budget.remaining() < k + V) break;
          merges += 1;
          triedMerges.add(JSON.stringify(plan.instructions));
          const sa = (pool[plan.a] as CandidateState).scores;
          const sb = (pool[plan.b] as CandidateState).scores;
          // Prefer examples where the two parents disagree: that is where a merge can show.
          // Drawn on resume too, so the generator's later draws stay those of the first run.
          const idx = Array.from({ length: V }, (_, i) => i);
          const differ = mergeRng.shuffle(idx.filter((i) => sa[i] !== sb[i]));
          const same = mergeRng.shuffle(idx.filter((i) => sa[i] === sb[i]));
          const subsample = [...differ, ...same].slice(0, k).sort((x, y) => x - y);
          let rec = saved as Extract<IterRecord, { kind: 'merge' }> | undefined;
          if (rec && rec.kind !== 'merge') throw new Error(`GEPA: the run journal's ${key} does not match this run`);
          if (rec) budget.reserve(rec.metricCalls);
          else {
            const child = this.build(student, plan.instructions);
            const before = budget.used;
            const sub = await score(child, subsample.map((i) => p.valset[i] as Example));
            const childSub = sub.items.map((x) => x.score);
            const ok = sum(childSub) >= Math.max(sum(subsample.map((i) => sa[i] as number)), sum(subsample.map((i) => sb[i] as number)));
            rec = { kind: 'merge', a: plan.a, b: plan.b, ancestor: plan.ancestor, instructions: plan.instructions, subsample, metricCalls: 0, childSub, accepted: ok };
            await settle(rec, child, ok, before);
            ctx.journal?.append(key, rec);
          }
          iterations += 1;
          ctx.trials.push({ trial: ctx.trials.length, kind: 'merge', score: score100(rec.childSub), size: rec.subsample.length, ...(saved ? { resumed: true } : {}) });
          if (rec.accepted && rec.valScores && rec.cost) {
            accepted += 1;
            addCandidate({ instructions: rec.instructions, parents: [rec.a, rec.b], origin: 'merge', iteration: t, scores: rec.valScores, cost: rec.cost });
            ctx.trials.push({ trial: ctx.trials.length, kind: 'full', score: score100(rec.valScores), size: V, ...(saved ? { resumed: true } : {}) });
          }
          ctx.progress({ phase: 'trial', trial: t, score: score100(rec.childSub), bestScore: ctx.bestScore as number, message: `GEPA merge of ${rec.a} and ${rec.b}: ${rec.accepted ? 'accepted' : 'rejected'}` });
          continue;
        }
      }

      // A reflective iteration starts only when the budget can pay for all of it.
      if (budget.remaining() < 2 * b + V) break;
      const parent = o.candidateSelectionStrategy === 'current_best' ? bestByMean(table()) : sampleParent(table(), selectRng);
      const parentState = pool[parent] as CandidateState;
      const P = p.paths.length;
      const predictors: number[] = o.componentSelector === 'all' ? p.paths.map((_, i) => i) : [(nextPredictor[parent] as number) % P];
      if (o.componentSelector !== 'all') nextPredictor[parent] = ((nextPredictor[parent] as number) + 1) % P;
      const batchIdx = sampler.next(b);
      const batch = batchIdx.map((i) => p.trainset[i] as Example);
      iterations += 1;

      let rec = saved as IterRecord | undefined;
      if (rec && rec.kind === 'merge') throw new Error(`GEPA: the run journal's ${key} does not match this run`);
      if (rec) budget.reserve(rec.metricCalls);
      else {
        const before = budget.used;
        const parentProgram = this.build(student, parentState.instructions);
        const parentRun = await score(parentProgram, batch);
        const parentScores = parentRun.items.map((x) => x.score);
        if (o.skipPerfectScore && parentScores.every((s) => s >= o.perfectScore)) {
          rec = { kind: 'skip', parent, predictor: predictors[0] as number, metricCalls: budget.used - before, parentScores };
        } else {
          const proposed = [...parentState.instructions];
          let reason: string | undefined;
          for (const k of predictors) {
            const records = reflectionRecords(parentRun.items, batch, parentProgram, k, p.paths[k] as string);
            if (records.length === 0) {
              reason = `no recorded call of ${p.paths[k]} in the minibatch`;
              continue;
            }
            let ins: string;
            try {
              ins = await proposeFromReflection({
                currentInstruction: parentState.instructions[k] as string,
                records,
                lm: o.reflectionLm ?? o.taskLm,
                rolloutId: `gepa-${t}-${k}`,
              });
            } catch (err) {
              // An answer without a readable instruction is a proposal that failed, not a broken run.
              if (!isUnreadableAnswer(err) || ctx.isStop(err)) throw err;
              ins = '';
            }
            if (!ins) reason = 'the reflection LM proposed no instruction';
            else if (ins.length > o.maxInstructionChars) reason = `the proposed instruction has ${ins.length} characters (maxInstructionChars ${o.maxInstructionChars})`;
            else if (ins === parentState.instructions[k]) reason = 'the proposal repeats the current instruction';
            else proposed[k] = ins;
          }
          const changed = proposed.some((x, k) => x !== parentState.instructions[k]);
          const predictor = predictors[0] as number;
          if (!changed) {
            rec = { kind: 'reflect', parent, predictor, metricCalls: budget.used - before, parentScores, instruction: '', accepted: false, reason: reason ?? 'no change proposed' };
          } else {
            const child = this.build(student, proposed);
            const childRun = await score(child, batch);
            const childScores = childRun.items.map((x) => x.score);
            const ok = sum(childScores) > sum(parentScores);
            rec = {
              kind: 'reflect',
              parent,
              predictor,
              metricCalls: 0,
              parentScores,
              instruction: JSON.stringify(proposed),
              accepted: ok,
              childScores,
              ...(ok ? {} : { reason: 'the child did not beat its parent on the minibatch' }),
            };
            await settle(rec, child, ok, before);
          }
        }
        ctx.journal?.append(key, rec);
      }

      const resumed = saved ? { resumed: true } : {};
      if (rec.kind === 'skip') {
        ctx.trials.push({ trial: ctx.trials.length, kind: 'skip', score: score100(rec.parentScores), size: b, ...resumed });
        ctx.progress({ phase: 'trial', trial: t, score: score100(rec.parentScores), bestScore: ctx.bestScore as number, message: `GEPA: parent ${rec.parent} already perfect on the minibatch` });
        continue;
      }
      if (rec.kind === 'reflect') {
        if (rec.childScores) ctx.trials.push({ trial: ctx.trials.length, kind: 'minibatch', score: score100(rec.childScores), size: b, ...resumed });
        if (rec.accepted && rec.valScores && rec.cost) {
          accepted += 1;
          addCandidate({ instructions: JSON.parse(rec.instruction) as string[], parents: [rec.parent], origin: 'reflection', iteration: t, scores: rec.valScores, cost: rec.cost });
          ctx.trials.push({ trial: ctx.trials.length, kind: 'full', score: score100(rec.valScores), size: V, ...resumed });
          if (o.useMerge && merges + mergesDue < o.maxMergeInvocations) mergesDue += 1;
        }
        ctx.progress({
          phase: 'trial',
          trial: t,
          ...(rec.childScores ? { score: score100(rec.childScores) } : {}),
          bestScore: ctx.bestScore as number,
          message: `GEPA: ${p.paths[rec.predictor]} of candidate ${rec.parent}: ${rec.accepted ? 'accepted' : `rejected (${rec.reason})`}`,
        });
      }
    }
    if (accepted === 0) {
      const w = 'no proposal was accepted: the program is the one you wrote';
      warnings.push(w);
      ctx.progress({ phase: 'warning', message: `GEPA: ${w}` });
    }
  }
}

/** The reflective dataset of predictor `k` from a minibatch run (DSPy's make_reflective_dataset). */
function reflectionRecords(items: readonly ScoredExample[], batch: readonly Example[], program: Module, k: number, path: string): ReflectionRecord[] {
  const predictor = program.namedPredictors()[k]?.[1];
  // A pipeline's metrics attribute feedback by step name; its predictor paths are sanitised names.
  const step = (program as { stepOfPath?: (p: string) => string | undefined }).stepOfPath?.(path);
  const out: ReflectionRecord[] = [];
  items.forEach((item, i) => {
    const feedback = item.byPredictor?.[path] ?? (step !== undefined ? item.byPredictor?.[step] : undefined) ?? item.feedback;
    const calls = item.trace.filter((e) => e.predictor === predictor);
    if (calls.length === 0) {
      if (item.error) {
        out.push({ inputs: (batch[i] as Example).inputs().toDict(), outputs: `The program failed before this step produced an output: ${item.error}`, feedback, score: item.score });
      }
      return;
    }
    for (const c of calls) out.push({ inputs: c.inputs, outputs: c.outputs, feedback, score: item.score });
  });
  return out;
}

/** The reflection LM answered, but not in a form its signature can read. */
function isUnreadableAnswer(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'AdapterParseError' || name === 'TypeCoercionError';
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
