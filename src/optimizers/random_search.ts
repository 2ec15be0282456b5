/**
 * BootstrapFewShotWithRandomSearch, as DSPy's: candidate programs for seeds -3 .. N-1
 *
 *   -3  zero-shot (a reset copy of the student)
 *   -2  labeled demos only (LabeledFewShot(maxLabeledDemos))
 *   -1  BootstrapFewShot over the trainset in order
 *   s>=0  BootstrapFewShot over a copy of the trainset shuffled by seed s, with
 *         maxBootstrappedDemos drawn uniformly from [minNumSamples (1), maxBootstrappedDemos]
 *
 * each scored with Evaluate on the valset (default: the trainset); the first best score wins;
 * the search stops early once a score reaches `stopAtScore`. The result also lists every
 * scored candidate, best first (DSPy's `compiled.candidate_programs`; ties keep seed order, as
 * Python's stable `sorted(..., reverse=True)` does). `restrict` limits the run to the
 * listed seeds; a restrict that matches no seed is an error (DSPy fails late with an unbound
 * variable). The candidate seed is combined with the run seed, so different run seeds give
 * different shuffles, and the same run seed the same ones.
 *
 * Journal: every scored candidate is one record (its score and saved program), and every
 * bootstrapped example inside a candidate another, so a resumed run redoes neither.
 */
import type { Module } from '../dspy/index.js';
import { BootstrapRun, bootstrapSettings, hashableBootstrapSettings, type BootstrapFewShotOptions } from './bootstrap_fewshot.js';
import { Slots } from '../util/concurrency.js';
import { DEFAULT_MAX_ERRORS, evaluateInRun } from './evaluate.js';
import { applyLabeledDemos } from './labeled_fewshot.js';
import { loadProgram, programToJson, saveProgram, type SavedProgram } from './program_io.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { runCompile, type RunContext, type RunOptions } from './run.js';
import type { CompileOptions, CompileResult, Optimizer } from './types.js';

export interface RandomSearchOptions extends BootstrapFewShotOptions {
  numCandidatePrograms?: number;
  stopAtScore?: number;
  restrict?: number[];
  /** Alias of CompileOptions.concurrency (DSPy's num_threads). */
  numThreads?: number;
  minNumSamples?: number;
  labeledSample?: boolean;
}

/** A scored candidate as the run journal keeps it. */
export interface CandidateRecord {
  seed: number;
  score: number;
  program: SavedProgram;
  /** Per-valset-example scores (absent in journals written before they were kept). */
  subscores?: number[];
}

/** One scored candidate of a random search (an entry of DSPy's `candidate_programs`). */
export interface RankedCandidate<M extends Module = Module> {
  /** -3 zero-shot, -2 labeled only, -1 unshuffled bootstrap, >= 0 a seeded shuffle. */
  seed: number;
  /** Its valset score (percentage). */
  score: number;
  /** Its score on each valset example, in valset order (undefined if resumed from an older journal). */
  subscores: number[] | undefined;
  program: M;
}

/** What random search's `compile` returns: the best program, the report, and every candidate ranked. */
export interface RandomSearchResult<M extends Module = Module> extends CompileResult<M> {
  /** Every scored candidate, by score descending; equal scores in the order they were scored (seed order). */
  candidatePrograms: Array<RankedCandidate<M>>;
}

export class BootstrapFewShotWithRandomSearch implements Optimizer {
  readonly name = 'BootstrapFewShotWithRandomSearch';
  readonly numCandidatePrograms: number;
  readonly stopAtScore: number | undefined;
  readonly restrict: number[] | undefined;
  readonly numThreads: number | undefined;
  readonly minNumSamples: number;
  readonly labeledSample: boolean;
  readonly opts: BootstrapFewShotOptions;

  constructor(opts: RandomSearchOptions = {}) {
    this.numCandidatePrograms = opts.numCandidatePrograms ?? 16;
    this.stopAtScore = opts.stopAtScore;
    this.restrict = opts.restrict;
    this.numThreads = opts.numThreads;
    this.minNumSamples = opts.minNumSamples ?? 1;
    this.labeledSample = opts.labeledSample ?? true;
    this.opts = {
      maxBootstrappedDemos: opts.maxBootstrappedDemos ?? 4,
      maxLabeledDemos: opts.maxLabeledDemos ?? 16,
      maxRounds: opts.maxRounds ?? 1,
      maxErrors: opts.maxErrors ?? DEFAULT_MAX_ERRORS,
// Stryker disable next-line ConditionalExpression: `metricThreshold: undefined` reads as no threshold
      ...(opts.metricThreshold !== undefined ? { metricThreshold: opts.metricThreshold } : {}),
      // Every bootstrapped candidate's teacher runs under these (DSPy passes teacher_settings on).
      ...(opts.teacherSettings !== undefined ? { teacherSettings: opts.teacherSettings } : {}),
    };
  }

  /** The candidate seeds this run will try, in order. */
  seeds(): number[] {
    const all: number[] = [];
    for (let s = -3; s < this.numCandidatePrograms; s++) all.push(s);
    // Stryker disable next-line OptionalChaining: inside the branch where `restrict` is set
    return this.restrict ? all.filter((s) => this.restrict?.includes(s)) : all;
  }

  async compile<M extends Module>(student: M, opts: CompileOptions & RunOptions): Promise<RandomSearchResult<M>> {
    const seeds = this.seeds();
    if (seeds.length === 0) {
      throw new Error(
        `BootstrapFewShotWithRandomSearch: restrict ${JSON.stringify(this.restrict)} matches no candidate seed ` +
          `(seeds run from -3 to ${this.numCandidatePrograms - 1})`,
      );
    }
    const concurrency = opts.concurrency ?? this.numThreads;
// Stryker disable next-line ConditionalExpression: `concurrency: undefined` reads as no concurrency given
    const runOpts = { ...opts, ...(concurrency !== undefined ? { concurrency } : {}) };
    const valset = opts.valset ?? opts.trainset;
    const scored: Array<RankedCandidate<M>> = [];
    const result = await runCompile(
      {
        optimizer: this.name,
        opts: runOpts,
        config: {
          numCandidatePrograms: this.numCandidatePrograms,
          stopAtScore: this.stopAtScore ?? null,
          restrict: this.restrict ?? null,
          minNumSamples: this.minNumSamples,
          labeledSample: this.labeledSample,
          bootstrap: hashableBootstrapSettings(bootstrapSettings(this.opts)),
          trainset: opts.trainset,
          valset,
          student: programToJson(student),
          teacher: opts.teacher ? programToJson(opts.teacher) : null,
        },
      },
      async (ctx) => {
        const ahead = new BuildAhead<M>(ctx, this.stopAtScore === undefined, (seed, slots) => this.buildCandidate(ctx, student, seed, opts, slots));
        try {
          for (const [i, seed] of seeds.entries()) {
            ctx.checkStop();
            const key = `candidate/${seed}`;
            const saved = ctx.journal?.get<CandidateRecord>(key);
            let program: M;
            let score: number;
            let subscores: number[] | undefined;
            if (saved) {
              program = loadProgram(student.resetCopy() as M, saved.program);
              score = saved.score;
              subscores = saved.subscores;
            } else {
              program = await ahead.take(seed);
              // The next candidate's walk runs while this one is scored.
              const next = seeds[i + 1];
              if (next !== undefined && !ctx.journal?.get<CandidateRecord>(`candidate/${next}`)) ahead.start(next);
              const evaluation = await evaluateInRun(ctx, program, valset, opts.metric, { maxErrors: this.opts.maxErrors ?? DEFAULT_MAX_ERRORS, label: `candidate seed ${seed}` });
              score = evaluation.score;
              subscores = evaluation.results.map((r) => r.score);
              ctx.journal?.append(key, { seed, score, program: saveProgram(program), subscores } satisfies CandidateRecord);
            }
            scored.push({ seed, score, subscores, program });
            ctx.trials.push({ trial: i, kind: 'candidate', seed, score, size: valset.length, ...(saved ? { resumed: true } : {}) });
            if (seed === -3) ctx.baselineScore = score;
            ctx.offer(program, score);
            ctx.progress({ phase: 'candidate', trial: i + 1, totalTrials: seeds.length, score, bestScore: ctx.bestScore as number, message: `seed ${seed}` });
            if (this.stopAtScore !== undefined && score >= this.stopAtScore) break;
          }
        } finally {
          await ahead.settle();
        }
        return ctx.bestProgram as M;
      },
      (ctx) => (ctx.bestProgram as M | undefined) ?? (student.deepCopy() as M),
    );
    // Array.prototype.sort is stable: equal scores stay in the order they were scored.
    return { ...result, candidatePrograms: [...scored].sort((a, b) => b.score - a.score) };
  }

  private async buildCandidate<M extends Module>(ctx: RunContext, student: M, seed: number, opts: CompileOptions, slots?: Slots): Promise<M> {
    const base = bootstrapSettings(this.opts);
    if (seed === -3) return student.resetCopy() as M;
    if (seed === -2) {
      return applyLabeledDemos(student.resetCopy() as M, opts.trainset, base.maxLabeledDemos, this.labeledSample, new Rng(deriveSeed(ctx.seed, 'labeled')));
    }
    let trainset = opts.trainset;
    let settings = base;
    if (seed >= 0) {
      trainset = new Rng(deriveSeed(ctx.seed, 'shuffle', seed)).shuffle([...opts.trainset]);
      const size = new Rng(deriveSeed(ctx.seed, 'size', seed)).randint(Math.min(this.minNumSamples, base.maxBootstrappedDemos), base.maxBootstrappedDemos);
      settings = { ...base, maxBootstrappedDemos: size };
    }
    const run = new BootstrapRun(ctx, student, trainset, opts.metric, opts.teacher, settings, `candidate/${seed}/bootstrap`, slots);
    return run.run();
  }
}

/**
 * Builds the next candidate while the current one is scored. Without stopAtScore every
 * candidate is built whatever the scores, so a walk started early makes only calls the
 * sequential search makes too; it runs on a quarter of the run's concurrency beside the scoring
 * and gets all of it once its turn comes. With stopAtScore (a candidate past the stopping one
 * must cost nothing) or at concurrency 1, each candidate is built when its turn comes.
 */
class BuildAhead<M extends Module> {
  private readonly early = new Map<number, { program: Promise<M>; slots: Slots }>();
  private readonly enabled: boolean;

  constructor(
    private readonly ctx: RunContext,
    allCandidatesNeeded: boolean,
    private readonly build: (seed: number, slots?: Slots) => Promise<M>,
  ) {
    this.enabled = allCandidatesNeeded && ctx.concurrency > 1;
  }

  start(seed: number): void {
    if (!this.enabled || this.early.has(seed)) return;
    const slots = new Slots(Math.max(1, Math.ceil(this.ctx.concurrency / 4)));
    const program = this.build(seed, slots);
    program.catch(() => {}); // taken (and rethrown) at its turn
    this.early.set(seed, { program, slots });
  }

  take(seed: number): Promise<M> {
    const e = this.early.get(seed);
    if (!e) return this.build(seed);
    e.slots.widen(this.ctx.concurrency);
    return e.program;
  }

  /** No build outlives the run. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.early.values()].map((e) => e.program));
  }
}
