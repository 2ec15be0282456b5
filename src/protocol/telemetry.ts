import * as z from 'zod';
import { JsonObject } from './common.js';

export const TelemetryEvent = z.object({
  event: z.array(z.string()).min(1).describe('e.g. ["pipeline","execution","stop"]'),
  measurements: JsonObject,
  metadata: JsonObject,
  time: z.number().describe('Unix time in milliseconds'),
});
export type TelemetryEvent = z.infer<typeof TelemetryEvent>;

export const TelemetryEventsParams = z.object({
  events: z.array(TelemetryEvent),
  dropped: z.int().nonnegative().describe('Events the client dropped since its last batch'),
});
export type TelemetryEventsParams = z.infer<typeof TelemetryEventsParams>;

export const TelemetryFlushParams = z.object({});
export const TelemetryFlushResult = z.object({
  durable: z.int().nonnegative().describe('Events durably stored (fsynced) so far'),
});
export type TelemetryFlushResult = z.infer<typeof TelemetryFlushResult>;

export const TelemetryExportParams = z.object({
  since: z.string().min(1).describe('ISO 8601 time, or relative like "24h", "7d", "30m"'),
  until: z.string().min(1).optional(),
  pipeline: z.string().optional(),
});
export type TelemetryExportParams = z.infer<typeof TelemetryExportParams>;

const Durations = z.object({
  p50: z.number().nullable().describe('null when there were no executions'),
  p95: z.number().nullable(),
});

export const TelemetryExportResult = z.object({
  since: z.string(),
  until: z.string(),
  total: z.int().nonnegative(),
  successes: z.int().nonnegative(),
  failures: z.int().nonnegative(),
  success_rate: z.number().min(0).max(1).nullable(),
  new_examples: z.int().nonnegative(),
  pipelines: z.record(
    z.string(),
    z.object({
      count: z.int().nonnegative(),
      successes: z.int().nonnegative(),
      failures: z.int().nonnegative(),
      success_rate: z.number().min(0).max(1).nullable(),
      new_examples: z.int().nonnegative(),
      duration_ms: Durations,
    }),
  ),
  duration_ms: Durations,
});
export type TelemetryExportResult = z.infer<typeof TelemetryExportResult>;
