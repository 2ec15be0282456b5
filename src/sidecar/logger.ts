import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
export const LOG_LEVEL_ENV = 'ELEXIRION_LOG_LEVEL';

export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}

/** `--log-level` wins, then `ELEXIRION_LOG_LEVEL`, then info. */
export function resolveLogLevel(flag: string | undefined, env = process.env): LogLevel {
  if (isLogLevel(flag)) return flag;
  const fromEnv = env[LOG_LEVEL_ENV];
  return isLogLevel(fromEnv) ? fromEnv : DEFAULT_LOG_LEVEL;
}

export const REDACTED = '[redacted]';

/**
 * Field names whose values never reach a log: API keys, authorization headers, secrets,
 * passwords and tokens. Matched on the name with `-`/`_` removed, case-insensitively;
 * counts such as `inputTokens`/`maxTokens` are not secrets and are kept.
 */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  if (k === 'authorization' || k === 'proxyauthorization' || k === 'cookie' || k === 'setcookie') return true;
  if (k.includes('secret') || k.includes('password') || k.includes('apikey')) return true;
  return k.endsWith('key') || k.endsWith('token');
}

/** Copy of `value` with secret-named fields replaced (plain objects and arrays, bounded depth). */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value; // Errors etc.: serializers handle them
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) ? REDACTED : redactSecrets(v, depth + 1);
  }
  return out;
}

/**
 * pino JSON on stderr (fd 2), synchronous so nothing is lost at exit. stdout is reserved for
 * protocol frames; nothing in the sidecar may write to it except the frame writer.
 */
export function createLogger(level: LogLevel = DEFAULT_LOG_LEVEL, destination: number = 2): Logger {
  const logger = pino(
    {
      name: 'elexirion',
      level,
      formatters: {
        log: (obj) => redactSecrets(obj) as Record<string, unknown>,
        bindings: (b) => redactSecrets(b) as Record<string, unknown>,
      },
      // Belt and braces for well-known header paths pino can censor itself.
      redact: { paths: ['headers.authorization', 'headers["x-api-key"]', 'req.headers.authorization'], censor: REDACTED },
    },
    pino.destination({ fd: destination, sync: true }),
  );
  // pino skips the bindings formatter for child loggers; redact their bindings here. Children
  // inherit this method through their prototype, so grandchildren are covered too.
  const child = logger.child as unknown as (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  logger.child = function (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
    return child.call(this, redactSecrets(bindings) as pino.Bindings, options);
  } as unknown as Logger['child'];
  return logger;
}
