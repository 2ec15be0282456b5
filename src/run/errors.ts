/**
 * Why a run stopped without a result worth writing. Matched by `name` in the sidecar's error
 * map (src/sidecar/error_map.ts), which turns them into JSON-RPC errors a client can act on.
 */
import { ElexirionError } from '../errors.js';
import type { UsageSummary } from '../protocol/common.js';

/** The metric cannot score (an unparseable judge), or every execution failed: nothing to conclude. */
export class RunFailedError extends ElexirionError {
  override readonly code: string = 'RUN_FAILED_ERROR';
  override readonly name = 'RunFailedError';
  /** What the run had spent when it stopped: set by the run, sent in the error's data. */
  usage?: UsageSummary;
  constructor(
    readonly reason: 'metric_cannot_score' | 'executions_failed',
    readonly phase: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A provider fault, the budget or a cancellation stopped the run before the pipeline as written
 * was scored: there is no best so far. What was scored is journaled; the same run id resumes.
 */
export class RunInterruptedError extends ElexirionError {
  override readonly code: string = 'RUN_INTERRUPTED_ERROR';
  override readonly name = 'RunInterruptedError';
  /** What the run had spent when it stopped: set by the run, sent in the error's data. */
  usage?: UsageSummary;
  constructor(
    readonly runId: string,
    readonly phase: string,
    readonly kind: 'provider' | 'budget' | 'aborted' | 'other',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Params that cannot make a run, each issue naming the field as written on the wire. */
export class RunParamsError extends ElexirionError {
  override readonly code: string = 'RUN_PARAMS_ERROR';
  override readonly name = 'RunParamsError';
  constructor(readonly issues: Array<{ path: Array<string | number>; message: string }>) {
    super(issues.map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; '));
  }
}

/** Input the run reads is unusable (e.g. training data without examples); `field` names the param. */
export class RunInputError extends ElexirionError {
  override readonly code: string = 'RUN_INPUT_ERROR';
  override readonly name = 'RunInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
