/**
 * The pipeline library's logger: pino JSON on stderr (stdout carries protocol frames only).
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

let defaultLogger: Logger | undefined;

export function pipelineLogger(): Logger {
  defaultLogger ??= pino(
    { name: 'pipeline', level: process.env['ELEXIRION_LOG_LEVEL'] ?? 'info' },
    pino.destination({ fd: 2, sync: false }),
  );
  return defaultLogger;
}
