/**
 * Typed failures of the LM layer. Callers branch on `kind` (never on message text): an
 * optimizer retries `retryable` ones later, stops cleanly on a budget, and reports the rest.
 */
import { ElexirionError } from '../errors.js';

export type LMErrorKind =
  | 'rate_limited' // 429 after the provider's own retries
  | 'overloaded' // Anthropic 529 / 503
  | 'server' // other 5xx
  | 'timeout' // no answer within the per-call timeout
  | 'network' // connection refused / reset
  | 'auth' // 401/403 or no API key configured
  | 'bad_request' // 4xx the caller must fix (400, 404, 413, 422)
  | 'malformed_response' // a 2xx whose body is not what the API promises
  | 'aborted' // the caller's AbortSignal fired
  | 'cassette_miss' // replay found no recording for the request
  | 'config'; // an invalid LM spec or option

export interface LMErrorInit {
  kind: LMErrorKind;
  provider: string;
  status?: number;
  retryable?: boolean;
  /** Server-advised delay before the next attempt (from retry-after / reset headers). */
  retryAfterMs?: number;
  cause?: unknown;
}

const RETRYABLE: ReadonlySet<LMErrorKind> = new Set([
  'rate_limited',
  'overloaded',
  'server',
  'timeout',
  'network',
]);

export class LMError extends ElexirionError {
  override readonly code: string = 'LM_ERROR';
  override readonly name = 'LMError';
  readonly kind: LMErrorKind;
  readonly provider: string;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, init: LMErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.provider = init.provider;
    this.status = init.status;
    this.retryable = init.retryable ?? RETRYABLE.has(init.kind);
    this.retryAfterMs = init.retryAfterMs;
  }

  /** A log-safe summary (no cause chain, which may hold request objects). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      kind: this.kind,
      provider: this.provider,
      status: this.status,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      message: this.message,
    };
  }
}

/** Maps an HTTP status to the LMError kind shared by every HTTP provider. */
export function kindForStatus(status: number): LMErrorKind {
  if (status === 429) return 'rate_limited';
  if (status === 529 || status === 503) return 'overloaded';
  if (status === 401 || status === 403) return 'auth';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server';
  return 'bad_request';
}

export function isLMError(e: unknown): e is LMError {
  return e instanceof LMError;
}

/**
 * Removes a credential from text that came back from a server (some echo the key, or part of
 * it, in a 401 body) before it goes into an error message or a log line.
 */
export function scrubSecret(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 6) return text;
  let out = text.split(secret).join('[redacted]');
  // A server may echo a prefix or suffix of the key ("sk-abc...xyz"): drop long fragments too.
  for (const frag of [secret.slice(0, 12), secret.slice(-12)]) {
    if (frag.length >= 8) out = out.split(frag).join('[redacted]');
  }
  return out;
}
