/**
 * Parallel: DSPy's `dspy.Parallel`. Runs (module, example) pairs with at most `concurrency`
 * in flight; results keep the pairs' order. A failed pair's result is undefined (DSPy's None);
 * once `maxErrors` pairs have failed no new pair starts and the run rejects. With
 * `returnFailedExamples` the failed examples and their errors come back too.
 */
import { ElexirionError } from '../errors.js';
import { Example } from './example.js';
import type { Module } from './module.js';
import type { Prediction } from './prediction.js';
import { settings } from './settings.js';

/** Options of Parallel (DSPy's `num_threads`, `max_errors`, `access_examples`, `return_failed_examples`). */
export interface ParallelOptions {
  /** Pairs in flight at once (DSPy's `num_threads`, default 8). */
  concurrency?: number;
  /** Failed pairs tolerated before the run stops (default 10, DSPy's `settings.max_errors`). */
  maxErrors?: number;
  /** Pass an Example's input fields (default true), else all its fields. */
  accessExamples?: boolean;
  /** Return `{ results, failedExamples, errors }` instead of the results alone. */
  returnFailedExamples?: boolean;
  signal?: AbortSignal;
}

/** What a pair passes to its module: an Example or a record of inputs. */
export type ParallelInput = Example | Record<string, unknown>;
/** A (module, input) pair to run. */
export type ExecPair = readonly [Module, ParallelInput];

/** Results in pair order (undefined for failed pairs), with the failed inputs and their errors. */
export interface ParallelOutcome {
  results: Array<Prediction | undefined>;
  failedExamples: ParallelInput[];
  errors: unknown[];
}

/** The run stopped after too many failed pairs; `errors` holds them, the first as cause. */
export class ParallelExecutionError extends ElexirionError {
  override readonly code: string = 'PARALLEL_EXECUTION_ERROR';
  override name = 'ParallelExecutionError';
  constructor(
    message: string,
    readonly errors: unknown[],
  ) {
    super(message, { cause: errors[0] });
  }
}

/** Runs (module, example) pairs concurrently (DSPy's `dspy.Parallel`). */
export class Parallel {
  readonly concurrency: number;
  readonly maxErrors: number;
  readonly accessExamples: boolean;
  readonly returnFailedExamples: boolean;
  readonly signal: AbortSignal | undefined;

  constructor(options: ParallelOptions = {}) {
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 8));
    this.maxErrors = Math.max(1, Math.floor(options.maxErrors ?? 10));
    this.accessExamples = options.accessExamples ?? true;
    this.returnFailedExamples = options.returnFailedExamples ?? false;
    this.signal = options.signal;
  }

  /** Run the pairs: the results, or the full outcome with `returnFailedExamples`. */
  forward(pairs: readonly ExecPair[], options?: { concurrency?: number }): Promise<Array<Prediction | undefined> | ParallelOutcome>;
  async forward(pairs: readonly ExecPair[], options: { concurrency?: number } = {}): Promise<Array<Prediction | undefined> | ParallelOutcome> {
    const outcome = await this.run(pairs, options.concurrency ?? this.concurrency);
    return this.returnFailedExamples ? outcome : outcome.results;
  }

  /** Always the full outcome (results, failed examples, errors). */
  async run(pairs: readonly ExecPair[], concurrency = this.concurrency): Promise<ParallelOutcome> {
    const results = new Array<Prediction | undefined>(pairs.length).fill(undefined);
    const failed: Array<{ index: number; error: unknown }> = [];
    let next = 0;
    let stopped = false;
    const signal = this.signal;
    const callPair = ([module, example]: ExecPair): Promise<Prediction> => {
      if (example instanceof Example) return module.call(this.accessExamples ? example.inputs().toDict() : example.toDict());
      return module.call(example);
    };
    const worker = async (): Promise<void> => {
      while (!stopped && next < pairs.length) {
        signal?.throwIfAborted();
        const i = next++;
        try {
          results[i] = await callPair(pairs[i]!);
        } catch (e) {
          if (signal?.aborted) throw e;
          failed.push({ index: i, error: e });
          if (failed.length >= this.maxErrors) stopped = true;
        }
      }
    };
    const run = () => Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), pairs.length) }, worker));
    await (signal ? settings.context({ signal }, run) : run());
    failed.sort((a, b) => a.index - b.index);
    if (stopped) {
      throw new ParallelExecutionError(
        `Parallel: stopped after ${failed.length} failed pairs (maxErrors ${this.maxErrors}); first: ${(failed[0]!.error as Error)?.message ?? String(failed[0]!.error)}`,
        failed.map((f) => f.error),
      );
    }
    return { results, failedExamples: failed.map((f) => pairs[f.index]![1]), errors: failed.map((f) => f.error) };
  }
}
