/**
 * Evaluate (DSPy's `dspy.Evaluate`): run a program over a devset with a concurrency limit,
 * score each item with the metric, and report the mean as a percentage (0-100, rounded to two
 * decimals as DSPy does) plus per-item results in devset order, whatever order items finish in.
 *
 * - A failing item (the program or the metric throws) scores `failureScore` (0).
 * - After `maxErrors` failures (DSPy's default: 10) evaluation stops and throws
 *   `EvaluationError` (DSPy raises too). Errors are counted in devset order, so the same run
 *   stops at the same item at any concurrency.
 * - Budget and abort errors are not item failures: they end the evaluation at once.
 * - `Evaluate.run` is observed as DSPy's `Evaluate.__call__` is: callbacks in settings get
 *   `onEvaluateStart(callId, evaluate, inputs)` and `onEvaluateEnd(callId, result, error)`.
 */
import { ElexirionError } from '../errors.js';
import { isMetricFeedback, observed, settings, type Example, type Metric, type Module, type Prediction } from '../dspy/index.js';
import { BudgetExceededError } from '../lm/budget.js';
import { currentMeter } from '../lm/meter.js';
import { runOrdered } from '../util/concurrency.js';
import { writeFileAtomic } from '../util/atomic_file.js';
import { AbortedError, isTransientFault, type RunContext } from './run.js';
import type { ProgressEvent } from './types.js';

export const DEFAULT_MAX_ERRORS = 10;

export interface EvaluationItem {
  index: number;
  example: Example;
  /** `null` when the program failed. */
  prediction: Prediction | null;
  score: number;
  error?: string;
}

export interface EvaluationResult {
  /** Mean score as a percentage, 0-100, rounded to 2 decimals. */
  score: number;
  results: EvaluationItem[];
  errors: number;
}

export class EvaluationError extends ElexirionError {
  override readonly code: string = 'EVALUATION_ERROR';
  override readonly name = 'EvaluationError';
  constructor(
    message: string,
    readonly errors: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface EvaluateOptions {
  devset: Example[];
  metric: Metric;
  /** Items evaluated at once (DSPy's num_threads). Default 1. */
  concurrency?: number;
  maxErrors?: number;
  failureScore?: number;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  /** Write the per-item results here (`.csv` for CSV, anything else JSON), atomically. */
  exportPath?: string;
  /**
   * Passed to `onEvaluateStart` handlers only, to tell evaluations apart (DSPy's
   * `callback_metadata`, e.g. `{ metric_key: 'eval_full' }`).
   */
  callbackMetadata?: Record<string, unknown>;
}

/**
 * The `inputs` an `onEvaluateStart` handler gets (DSPy's: the arguments of `Evaluate.__call__`).
 * Here every option has its effective value (DSPy passes `None` for what the call left out).
 */
export interface EvaluateStartInputs {
  program: Module;
  devset: Example[];
  metric: Metric;
  concurrency: number;
  maxErrors: number;
  failureScore: number;
  exportPath: string | undefined;
  callbackMetadata: Record<string, unknown> | undefined;
}

/** The part of a run an evaluation needs: stop checks and progress. */
export interface EvalHost {
  checkStop(): void;
  isStop(e: unknown): boolean;
  progress(e: Omit<ProgressEvent, 'calls' | 'costUsd'>): void;
}

export class Evaluate {
  constructor(private readonly opts: EvaluateOptions) {}

  /** Evaluates `program`; `overrides` replace options for this call only (like DSPy's __call__). */
  async run(program: Module, overrides: Partial<EvaluateOptions> = {}): Promise<EvaluationResult> {
    const o = { ...this.opts, ...overrides };
    const host = standaloneHost(o.signal, o.onProgress);
    const inputs: EvaluateStartInputs = {
      program,
      devset: o.devset,
      metric: o.metric,
      concurrency: o.concurrency ?? 1,
      maxErrors: o.maxErrors ?? DEFAULT_MAX_ERRORS,
      failureScore: o.failureScore ?? 0,
      exportPath: o.exportPath,
      callbackMetadata: o.callbackMetadata,
    };
    const go = () =>
      evaluateProgram(host, program, inputs.devset, inputs.metric, {
        concurrency: inputs.concurrency,
        maxErrors: inputs.maxErrors,
        failureScore: inputs.failureScore,
      });
    const body = async (): Promise<EvaluationResult> => {
      // The signal reaches the LM calls through the settings context.
      const result = await (o.signal ? settings.context({ signal: o.signal }, go) : go());
      if (o.exportPath) await exportEvaluation(result, o.exportPath);
      return result;
    };
    const callbacks = settings.callbacks;
    // As DSPy's with_callbacks: no callbacks, no call id; the export is part of the observed call.
    return callbacks.length === 0 ? body() : observed(callbacks, 'Evaluate', this, { ...inputs }, body);
  }
}

export interface EvalSettings {
  concurrency: number;
  maxErrors: number;
  failureScore: number;
  /** What is being evaluated, sent as the progress events' message (`baseline`, `minibatch`, ...). */
  label?: string;
  /** Items already scored (read back from a run journal): taken as they are, not run again. */
  known?: (index: number) => KnownItem | undefined;
  /** Called as each item is committed, in devset order (a run journals it here). */
  onCommit?: (item: EvaluationItem) => void;
}

/** An item's outcome as a journal keeps it. */
export interface KnownItem {
  score: number;
  error?: string;
}

/** Metric value as a number: true -> 1, false -> 0, `{score, feedback}` -> score. */
export function metricToNumber(v: unknown): number {
  if (isMetricFeedback(v)) return metricToNumber(v.score);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === null || v === undefined) return 0;
  const n = Number(v);
  if (Number.isFinite(n)) return n;
  throw new TypeError(`metric returned ${JSON.stringify(v)}: expected a boolean or a number`);
}

export function roundScore(x: number): number {
  return Math.round(x * 100) / 100;
}

export async function evaluateProgram(
  host: EvalHost,
  program: Module,
  devset: Example[],
  metric: Metric,
  s: EvalSettings,
): Promise<EvaluationResult> {
  const results: EvaluationItem[] = new Array(devset.length);
  let errors = 0;
  let committed = 0;
  let sum = 0;
  await runOrdered<{ prediction: Prediction | null; score: number; knownError?: string }>(
    devset.length,
    async (i) => {
      const known = s.known?.(i);
      if (known) return { prediction: null, score: known.score, ...(known.error !== undefined ? { knownError: known.error } : {}) };
      host.checkStop();
      const example = devset[i] as Example;
      const prediction = await program.call(example.inputs().toDict());
      const score = metricToNumber(await metric(example, prediction));
      return { prediction, score };
    },
    (i, outcome) => {
      const example = devset[i] as Example;
      committed += 1;
      const knownError = outcome.ok ? outcome.value.knownError : undefined;
      if (outcome.ok && knownError === undefined) {
        results[i] = { index: i, example, prediction: outcome.value.prediction, score: outcome.value.score };
        sum += outcome.value.score;
        s.onCommit?.(results[i]!);
      } else {
        errors += 1;
        const text = outcome.ok ? (knownError as string) : errorText(outcome.error);
        const score = outcome.ok ? outcome.value.score : s.failureScore;
        results[i] = { index: i, example, prediction: null, score, error: text };
        sum += score;
        s.onCommit?.(results[i]!);
        if (errors >= s.maxErrors) {
          throw new EvaluationError(`evaluation stopped after ${errors} errors (maxErrors ${s.maxErrors}); last: ${text}`, errors, {
            ...(outcome.ok ? {} : { cause: outcome.error }),
          });
        }
      }
      // Per item: `trial` counts items done, `score` is the running mean so far.
      host.progress({
        phase: 'evaluate',
        trial: committed,
        totalTrials: devset.length,
        score: roundScore((100 * sum) / committed),
        ...(s.label ? { message: s.label } : {}),
      });
      return 'continue';
    },
    { limit: s.concurrency, isFatal: (e) => host.isStop(e) },
  );
  const score = devset.length === 0 ? 0 : roundScore((100 * sum) / devset.length);
  return { score, results, errors };
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function standaloneHost(signal: AbortSignal | undefined, onProgress: ((e: ProgressEvent) => void) | undefined): EvalHost {
  return {
    checkStop() {
      if (signal?.aborted) throw new AbortedError(signal.reason);
      currentMeter()?.check();
    },
    isStop(e) {
      return e instanceof BudgetExceededError || e instanceof AbortedError || isTransientFault(e) || Boolean(signal?.aborted);
    },
    progress(e) {
      if (!onProgress) return;
      const snap = currentMeter()?.usage.snapshot();
      try {
        onProgress({ ...e, calls: snap?.calls ?? 0, costUsd: snap?.costUsd ?? 0 });
      } catch {
        /* a broken listener must not break the evaluation */
      }
    },
  };
}

/** Evaluate inside an optimizer run. */
export function evaluateInRun(
  ctx: RunContext,
  program: Module,
  devset: Example[],
  metric: Metric,
  opts: { maxErrors?: number; failureScore?: number; label?: string } = {},
): Promise<EvaluationResult> {
  return evaluateProgram(ctx, program, devset, metric, {
    concurrency: ctx.concurrency,
    maxErrors: opts.maxErrors ?? DEFAULT_MAX_ERRORS,
    failureScore: opts.failureScore ?? 0,
    ...(opts.label ? { label: opts.label } : {}),
  });
}

function plain(v: { toDict(): Record<string, unknown> } | null): Record<string, unknown> {
  return v ? v.toDict() : {};
}

/** Writes per-item results as JSON (default) or CSV (`.csv` path or format), atomically. */
export async function exportEvaluation(result: EvaluationResult, path: string, format?: 'json' | 'csv'): Promise<void> {
  const fmt = format ?? (path.toLowerCase().endsWith('.csv') ? 'csv' : 'json');
  const rows = result.results.map((r) => ({
    index: r.index,
    example: plain(r.example),
    prediction: plain(r.prediction),
    score: r.score,
    ...(r.error !== undefined ? { error: r.error } : {}),
  }));
  if (fmt === 'json') {
    await writeFileAtomic(path, JSON.stringify({ score: result.score, errors: result.errors, results: rows }, null, 2) + '\n');
    return;
  }
  const exKeys = uniqueKeys(rows.map((r) => r.example));
  const predKeys = uniqueKeys(rows.map((r) => r.prediction));
  const header = ['index', ...exKeys, ...predKeys.map((k) => `pred_${k}`), 'score', 'error'];
  const lines = [header.map(csvCell).join(',')];
  for (const r of rows) {
    lines.push(
      [r.index, ...exKeys.map((k) => r.example[k]), ...predKeys.map((k) => r.prediction[k]), r.score, r.error ?? '']
        .map(csvCell)
        .join(','),
    );
  }
  await writeFileAtomic(path, lines.join('\n') + '\n');
}

function uniqueKeys(objs: Array<Record<string, unknown>>): string[] {
  const seen = new Set<string>();
  for (const o of objs) for (const k of Object.keys(o)) seen.add(k);
  return [...seen];
}

function csvCell(v: unknown): string {
  const s = v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
