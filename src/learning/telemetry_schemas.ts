// Wire shape of `telemetry/events` (docs/CONTRACTS.md). src/protocol/ owns the canonical
// schemas; these mirror them so the learning library can validate on its own, and the lead can
// swap in the protocol ones (they are structurally the same).
import * as z from 'zod';

// A plain JSON object. z.custom instead of z.record(z.string(), z.unknown()): the record schema
// walks every key of every event's metadata (the hot path at 150k events/s) only to accept it.
const JsonObject = z.custom<Record<string, unknown>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  { message: 'expected an object' },
);

export const TelemetryEventSchema = z.object({
  event: z.array(z.string()).min(1),
  measurements: JsonObject.default({}),
  metadata: JsonObject.default({}),
  /** unix ms (client clock) */
  time: z.number(),
});
export type TelemetryEvent = z.infer<typeof TelemetryEventSchema>;

export const TelemetryEventsParamsSchema = z.object({
  events: z.array(z.unknown()),
  dropped: z.number().int().nonnegative().default(0),
});
export type TelemetryEventsParams = z.infer<typeof TelemetryEventsParamsSchema>;
