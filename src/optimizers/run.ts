/**
 * What every optimizer run shares: the meter (budget and usage, via runWithMeter), the abort
 * signal, progress events, the journal, and the "best so far" a cut-short run returns.
 */
import { ElexirionError } from '../errors.js';
import { BudgetExceededError } from '../lm/budget.js';
import { Meter, runWithMeter } from '../lm/meter.js';
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { settings, type Module } from '../dspy/index.js';
import { saveProgramToFile } from './program_io.js';
import { RunJournal } from './journal.js';
import { hashJson } from '../util/canonical_json.js';
import { RunStopped, type CompileOptions, type CompileReport, type CompileResult, type ProgressEvent, type TrialRecord } from './types.js';

/** Options every optimizer accepts on top of CompileOptions (not in the config hash). */
export interface RunOptions {
  /** Use this meter instead of a fresh one (the sidecar's per-run meter). */
  meter?: Meter;
}

export class AbortedError extends ElexirionError {
  override readonly code: string = 'ABORTED_ERROR';
  override readonly name = 'AbortError';
  constructor(reason?: unknown) {
    super(`aborted${reason instanceof Error ? `: ${reason.message}` : reason !== undefined ? `: ${String(reason)}` : ''}`);
  }
}

/**
 * A provider failure that may pass (rate limit, overload, 5xx, timeout, dropped connection)
 * still failing after the provider's own retries: the run ends cleanly with the best so far
 * and the failed unit of work is not journaled, so resuming the run redoes it. Matched by
 * name, as the LM layer's errors may come from another copy of the module.
 */
export function isTransientFault(e: unknown): boolean {
  const err = e as { name?: unknown; retryable?: unknown; kind?: unknown } | null;
  return err?.name === 'LMError' && err.retryable === true && err.kind !== 'aborted';
}

export class RunContext {
  readonly trials: TrialRecord[] = [];
  baselineScore: number | undefined;
  bestScore: number | undefined;
  bestProgram: Module | undefined;
  errors = 0;
  bootstrapped: number | undefined;

  constructor(
    readonly meter: Meter,
    readonly seed: number,
    readonly concurrency: number,
    readonly signal: AbortSignal | undefined,
    private readonly listener: ((e: ProgressEvent) => void) | undefined,
    readonly journal: RunJournal | undefined,
  ) {}

  /** Throws (a stop error) when the run must end now: aborted, or wall/call budget reached. */
  checkStop(): void {
    if (this.signal?.aborted) throw new AbortedError(this.signal.reason);
    this.meter.check();
  }

  /** True for the errors that end a run cleanly with the best program so far. */
  isStop(e: unknown): boolean {
    if (e instanceof BudgetExceededError || e instanceof RunStopped || e instanceof AbortedError) return true;
    if (this.signal?.aborted) return true; // whatever the abort made the LM throw
    if (isTransientFault(e)) return true;
    return (e as { name?: unknown })?.name === 'BudgetExceededError';
  }

  progress(e: Omit<ProgressEvent, 'calls' | 'costUsd'>): void {
    if (!this.listener) return;
    const snap = this.meter.usage.snapshot();
    try {
      this.listener({ ...e, calls: snap.calls, costUsd: snap.costUsd });
    } catch {
      /* a broken listener must not break the run */
    }
  }

  /** Records a scored candidate; keeps it as best when strictly better (first best wins ties). */
  offer(program: Module, score: number): boolean {
    if (this.bestScore === undefined || score > this.bestScore) {
      this.bestScore = score;
      this.bestProgram = program;
      return true;
    }
    return false;
  }

  report(optimizer: string, extra: Partial<CompileReport> = {}): CompileReport {
    const r: CompileReport = {
      optimizer,
      trials: this.trials,
      usage: this.meter.usage.snapshot(),
      cutShort: false,
      seed: this.seed,
      errors: this.errors,
      ...extra,
    };
    if (this.baselineScore !== undefined) r.baselineScore = this.baselineScore;
    if (this.bestScore !== undefined) r.bestScore = this.bestScore;
    if (this.bootstrapped !== undefined) r.bootstrapped = this.bootstrapped;
    if (this.journal?.damage) r.journalDamage = this.journal.damage;
    if (this.journal) r.journal = this.journal.work;
    return r;
  }
}

export interface StartRunArgs {
  optimizer: string;
  opts: CompileOptions & RunOptions;
  /** Everything that determines the result, for the journal's config hash. */
  config: unknown;
}

/**
 * Runs `body` inside the meter; a stop error (budget, abort) becomes a clean return of
 * `fallback()` (the best program so far) with `report.cutShort = true`.
 */
export async function runCompile<M extends Module>(
  args: StartRunArgs,
  body: (ctx: RunContext) => Promise<M>,
  fallback: (ctx: RunContext) => M,
): Promise<CompileResult<M>> {
  const { opts } = args;
  // A fresh meter per run unless the caller hands one in (the sidecar does, to attribute calls
  // that Elixir makes on behalf of the run): a nested meter would hide calls from an outer one.
  const meter = opts.meter ?? new Meter({ budget: opts.budget });
  if (opts.meter && opts.budget) meter.budget = opts.budget;
  const seed = opts.seed ?? 0;
  const journal = opts.runDir
    ? RunJournal.open(opts.runDir, {
        optimizer: args.optimizer,
        configHash: hashJson({ optimizer: args.optimizer, seed, config: args.config }),
        ...(opts.outputRoot !== undefined ? { root: opts.outputRoot } : {}),
      })
    : undefined;
  // A run-local signal that follows the caller's: every LM call in flight listens to it, so it
  // may carry many listeners without touching the caller's signal.
  let signal: AbortSignal | undefined;
  let unfollow = () => {};
  if (opts.signal) {
    const local = new AbortController();
    setMaxListeners(0, local.signal);
    const callerSignal = opts.signal;
    const onAbort = () => local.abort(callerSignal.reason);
    if (callerSignal.aborted) onAbort();
    else {
      callerSignal.addEventListener('abort', onAbort, { once: true });
      unfollow = () => callerSignal.removeEventListener('abort', onAbort);
    }
    signal = local.signal;
  }
  const ctx = new RunContext(meter, seed, Math.max(1, opts.concurrency ?? 1), signal, opts.onProgress, journal);
  const started = performance.now();
  try {
    // The signal reaches every LM call of the run through the settings context.
    const inContext = <T>(fn: () => Promise<T>) => (signal ? settings.context({ signal }, fn) : fn());
    return await runWithMeter(meter, () => inContext(async () => {
      try {
        const program = await body(ctx);
        program.compiled = true;
        // The result next to its journal, for whoever resumes or inspects the run.
        if (opts.runDir) await saveProgramToFile(program, join(opts.runDir, 'program.json'), { root: opts.outputRoot });
        const report = ctx.report(args.optimizer, { wallMs: Math.round(performance.now() - started) });
        ctx.progress({ phase: 'done', ...(ctx.bestScore !== undefined ? { bestScore: ctx.bestScore } : {}) });
        return { program, report };
      } catch (err) {
        if (!ctx.isStop(err)) throw err;
        const program = fallback(ctx);
        program.compiled = true;
        if (opts.runDir) await saveProgramToFile(program, join(opts.runDir, 'program.json'), { root: opts.outputRoot });
        const reason = stopReason(err, ctx.signal);
        const report = ctx.report(args.optimizer, { cutShort: true, cutShortReason: reason, wallMs: Math.round(performance.now() - started) });
        ctx.progress({ phase: 'cut_short', message: reason, ...(ctx.bestScore !== undefined ? { bestScore: ctx.bestScore } : {}) });
        return { program, report };
      }
    }));
  } finally {
    unfollow();
    journal?.close();
  }
}

export function stopReason(err: unknown, signal: AbortSignal | undefined): string {
  if (err instanceof BudgetExceededError) return `budget: ${err.message}`;
  // A provider fault seen elsewhere in the run (e.g. by an LM call Elixir made for it) aborts
  // the run with that fault as the reason.
  const fault = isTransientFault(err) ? err : signal?.aborted && isTransientFault(signal.reason) ? signal.reason : undefined;
  if (fault) return `provider: ${(fault as Error).message}`;
  if (signal?.aborted || err instanceof AbortedError) return 'aborted';
  return err instanceof Error ? err.message : String(err);
}
