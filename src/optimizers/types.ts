import type { JournalDamage } from './journal.js';
/**
 * The one shape every optimizer shares (docs/CONTRACTS.md, "Optimizers"): a class with
 * `compile(student, opts)` returning the optimized program and a report.
 */
import type { Example, Metric, Module } from '../dspy/index.js';
import { ElexirionError } from '../errors.js';
import type { BudgetLimits } from '../lm/budget.js';
import type { UsageSnapshot } from '../lm/usage.js';
import type { RunOptions } from './run.js';

export interface ProgressEvent {
  /**
   * `bootstrap` (per trainset example committed), `evaluate` (per item; `trial` = items done,
   * `score` = running mean, `message` = what is evaluated), `candidate` (random search, per
   * candidate), `demos` / `propose` / `trial` / `full_eval` (MIPROv2), `done`, `cut_short`
   * (message = reason), `dry_run` (message = the estimate).
   */
  phase: string;
  trial?: number;
  totalTrials?: number;
  score?: number;
  bestScore?: number;
  /** LM calls (including cache hits) and cost so far in this run. */
  calls: number;
  costUsd: number;
  message?: string;
}

export type ProgressListener = (e: ProgressEvent) => void;

export interface CompileOptions {
  trainset: Example[];
  /** Scored on by the searching optimizers; defaults to the trainset. */
  valset?: Example[];
  metric: Metric;
  teacher?: Module;
  seed?: number;
  budget?: BudgetLimits;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Where the run journal lives; given, a run resumes from it (see journal.ts). */
  runDir?: string;
  /**
   * The output folder `runDir` must stay inside once symlinks are resolved (journal and
   * program.json are refused, not written, when a folder on the way leads elsewhere).
   */
  outputRoot?: string;
  /** How many program calls run at once (examples bootstrapped, items evaluated). */
  concurrency?: number;
}

export interface TrialRecord {
  /** 0-based, in the order the trials were run. */
  trial: number;
  /** `candidate` (random search), `minibatch` / `full` (MIPRO), `baseline`. */
  kind: string;
  score: number;
  /** Random search: the candidate seed (-3 zero-shot, -2 labeled, -1 unshuffled bootstrap). */
  seed?: number;
  /** MIPRO: chosen instruction / demo-set index per predictor path. */
  params?: Record<string, { instruction: number; demos: number }>;
  /** Examples the score is over. */
  size?: number;
  /** True when the trial was read back from the run journal instead of run again. */
  resumed?: boolean;
}

export interface CompileReport {
  optimizer: string;
  baselineScore?: number;
  bestScore?: number;
  trials: TrialRecord[];
  usage: UsageSnapshot;
  cutShort: boolean;
  cutShortReason?: string;
  seed: number;
  /** Examples bootstrapped successfully (bootstrap-based optimizers). */
  bootstrapped?: number;
  /** Errors seen (and tolerated) while bootstrapping or evaluating. */
  errors?: number;
  wallMs?: number;
  /** With a run journal: units of work read back from it (resume) and recorded anew. */
  journal?: { replayed: number; recorded: number };
  /** MIPROv2 with `dryRun: true`: what the run would spend (nothing was spent). */
  estimate?: RunEstimate;
  /** The resumed journal had a damaged line: replay stopped there (see journal.ts). */
  journalDamage?: JournalDamage;
}

/** A dry run's estimate of LM calls, tokens and (when the LM is priced) cost. */
export interface RunEstimate {
  calls: {
    bootstrap: { expected: number; max: number };
    proposal: number;
    evaluation: number;
    total: { expected: number; max: number };
  };
  /** Rough: characters / 4 of the prompts the run would send. */
  tokens: { input: number; output: number };
  /** USD from the LM layer's price table; absent when the LMs are not priced (dummy, plain LM). */
  costUsd?: { expected: number; max: number };
  numCandidates: number;
  numTrials: number;
  fullEvals: number;
  valsetSize: number;
  trainsetSize: number;
  minibatchSize: number;
  predictors: number;
  /** LM calls per program run assumed (one per predictor unless told). */
  callsPerForward: number;
  /** One line a CLI or log can print. */
  summary: string;
}

export interface CompileResult<M extends Module = Module> {
  program: M;
  report: CompileReport;
}

/**
 * Implemented by every optimizer class (LabeledFewShot, BootstrapFewShot,
 * BootstrapFewShotWithRandomSearch, MIPROv2, GEPA). A class may accept more (LabeledFewShot:
 * no metric) or return more (GEPA: its Pareto report) than this.
 */
export interface Optimizer {
  readonly name: string;
  compile<M extends Module>(student: M, opts: CompileOptions & RunOptions): Promise<CompileResult<M>>;
}

/** Thrown by an optimizer step to end a run early and cleanly (budget, abort). */
export class RunStopped extends ElexirionError {
  override readonly code: string = 'RUN_STOPPED';
  override readonly name = 'RunStopped';
  constructor(readonly reason: string, cause?: unknown) {
    super(`run stopped: ${reason}`, cause === undefined ? undefined : { cause });
  }
}
