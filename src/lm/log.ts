/**
 * The LM layer's logger: pino JSON on stderr (stdout carries protocol frames only), with every
 * credential-bearing path redacted. Providers never put a key into a log object in the first
 * place; redaction is the second line of defence. Writes are synchronous so the lines that
 * explain a crash are not lost with it.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export const REDACT_PATHS: string[] = [
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  'x-api-key',
  '*["x-api-key"]',
];

export interface LMLoggerOptions {
  level?: string;
  /** Where lines go; stderr when absent. Tests pass a capturing stream. */
  destination?: DestinationStream;
}

export function createLMLogger(opts: LMLoggerOptions = {}): Logger {
  return pino(
    {
      name: 'lm',
      level: opts.level ?? process.env['ELEXIRION_LOG_LEVEL'] ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    opts.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

let defaultLogger: Logger | undefined;

/** One shared stderr logger for LMs created without an explicit one. */
export function lmLogger(): Logger {
  defaultLogger ??= createLMLogger();
  return defaultLogger;
}
