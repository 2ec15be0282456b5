import * as z from 'zod';
import { ProgressToken, RequestId } from './common.js';

/** Either direction: cancel the request with this id (answered with -32800 if still running). */
export const CancelRequestParams = z.object({ id: RequestId });
export type CancelRequestParams = z.infer<typeof CancelRequestParams>;

/** Node -> Elixir: progress of a request that carried `progressToken`. */
export const ProgressParams = z.object({ token: ProgressToken, value: z.unknown() });
export type ProgressParams = z.infer<typeof ProgressParams>;

/** Node -> Elixir: a log line worth surfacing in the host app's Logger. */
export const LogParams = z.object({
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  time: z.number().optional().describe('Unix time in milliseconds'),
});
export type LogParams = z.infer<typeof LogParams>;
