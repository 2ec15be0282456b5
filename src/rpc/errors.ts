/**
 * JSON-RPC error codes the sidecar sends, and the error class handlers throw to choose one.
 * Standard codes come from the JSON-RPC 2.0 spec; -32002 and -32800 follow LSP, so generic
 * tooling already knows them. `protocol/PROTOCOL.md` is the authority for their meaning.
 */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  ServerNotInitialized: -32002,
  /** Too many requests in flight: the request was not started (retry later). */
  ServerOverloaded: -32003,
  RequestCancelled: -32800,
  /** A run or call hit its budget (calls, tokens, USD, wall clock); `data` says which. */
  BudgetExceeded: -32010,
  /** The LM provider failed after its own retries; `data.kind` says how (rate_limited, timeout, ...). */
  LMFailed: -32011,
  /** Input the method reads (a pipeline file, training data, a saved program) is invalid; `data` names where. */
  InvalidInput: -32012,
  /** Elixir's executor failed a pipeline candidate. */
  ExecutionFailed: -32013,
  /**
   * A run stopped with nothing to conclude: its metric cannot score (an unparseable judge) or
   * every execution failed; `data.reason` says which (`metric_cannot_score`, `executions_failed`).
   */
  RunFailed: -32014,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** Thrown by a handler (or the dispatcher) to answer with a specific JSON-RPC error. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }

  toErrorObject(): ErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

/** One entry of `error.data.issues` for -32602: where the params went wrong and why. */
export interface ParamIssue {
  path: Array<string | number>;
  message: string;
}

/** -32602 naming every failing field, from zod issues (or anything with path + message). */
export function invalidParams(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  message = 'Invalid params',
): RpcError {
  const list: ParamIssue[] = issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'number' ? p : String(p))),
    message: i.message,
  }));
  const summary = list
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(params)'}: ${i.message}`)
    .join('; ');
  return new RpcError(ErrorCode.InvalidParams, summary ? `${message}: ${summary}` : message, {
    issues: list,
  });
}
