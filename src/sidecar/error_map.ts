import { ErrorCode, RpcError, invalidParams } from '../rpc/errors.js';

/**
 * Domain errors -> JSON-RPC errors a client can match on (codes in protocol/PROTOCOL.md).
 * Matched by `name` rather than `instanceof` so this file pulls none of the LM, pipeline or
 * optimizer modules in at startup (cold start is measured; handlers load those lazily).
 */
export function mapDomainError(err: unknown): RpcError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & Record<string, unknown>;
  switch (e.name) {
    case 'BudgetExceededError':
      return new RpcError(ErrorCode.BudgetExceeded, e.message, { kind: e.kind, limit: e.limit, used: e.used });
    case 'LMError':
      // A spec the user typed wrong is bad params, not a provider failure.
      if (e.kind === 'config') return new RpcError(ErrorCode.InvalidParams, e.message, { field: 'lm' });
      return new RpcError(ErrorCode.LMFailed, e.message, {
        kind: e.kind,
        provider: e.provider,
        ...(e.status === undefined ? {} : { status: e.status }),
        retryable: e.retryable,
      });
    case 'PipelineValidationError':
      return new RpcError(ErrorCode.InvalidInput, e.message, { issues: e.issues });
    case 'InputRefusedError':
      // A limit, a non-regular file, bad UTF-8: data names the path (and the variable to raise).
      return new RpcError(ErrorCode.InvalidInput, e.message, e.data);
    case 'ConfinementError':
      return new RpcError(ErrorCode.InvalidInput, e.message, { path: e.path, outDir: e.root });
    case 'PipelineYamlError':
    case 'UnsafePathError':
    case 'SignatureParseError':
      return new RpcError(ErrorCode.InvalidInput, e.message);
    case 'TrainingDataError':
      return new RpcError(ErrorCode.InvalidInput, e.message, { dir: e.dir, problems: e.problems });
    case 'ProgramLoadError':
    case 'PipelineConfigError':
    case 'MetricConfigError':
    case 'JournalConfigMismatchError':
      return new RpcError(ErrorCode.InvalidInput, e.message);
    case 'PipelineExecutionError':
      return new RpcError(ErrorCode.ExecutionFailed, e.message);
    case 'RunParamsError':
      return invalidParams(e.issues as Array<{ path: Array<string | number>; message: string }>);
    case 'RunInputError':
      return new RpcError(ErrorCode.InvalidInput, e.message, { field: e.field });
    case 'RunFailedError':
      return new RpcError(ErrorCode.RunFailed, e.message, { reason: e.reason, phase: e.phase, ...spent(e) });
    case 'RunInterruptedError':
      // The provider gave out before there was anything to keep: resumable with the same run id.
      return new RpcError(ErrorCode.LMFailed, e.message, { runId: e.runId, phase: e.phase, kind: e.kind, resumable: true, ...spent(e) });
    case 'EvaluationError':
      return new RpcError(ErrorCode.ExecutionFailed, e.message, { errors: e.errors });
    default:
      return undefined;
  }
}

/** A stopped run's `usage` (what it spent), when the run attached it. */
function spent(e: Record<string, unknown>): { usage?: unknown } {
  return e.usage === undefined ? {} : { usage: e.usage };
}
