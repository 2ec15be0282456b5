/** What the metric suites share: a logger whose lines the test reads, and a chat-adapter answer. */
import { Writable } from 'node:stream';
import { pino } from 'pino';

/** A pino logger at debug level whose JSON lines are collected in `lines`. */
export function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** An LM answer in the chat adapter's format, one `[[ ## field ## ]]` section per field. */
export const chat = (fields: Record<string, string>) =>
  `${Object.entries(fields)
    .map(([k, v]) => `[[ ## ${k} ## ]]\n${v}`)
    .join('\n\n')}\n\n[[ ## completed ## ]]`;
