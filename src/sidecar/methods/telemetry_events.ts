import * as z from 'zod';
import { defineMethod } from '../registry.js';

// Deliberately permissive: the learner validates the envelope and every event itself (cheaper
// than the protocol's TelemetryEvent record schema at 150k events/s) and counts bad batches
// (`learning/status`, one warning a second at most) instead of the endpoint logging each one.
const Envelope = z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
  message: 'expected an object',
});

/**
 * `telemetry/events` (notification): a batch of `:telemetry` events from Elixir, handed to the
 * learner synchronously, in arrival order, so a later `telemetry/flush` covers it.
 */
export default defineMethod({
  method: 'telemetry/events',
  kind: 'notification',
  params: Envelope,
  handler(params, ctx): void {
    const events = params.events;
    ctx.services.learning.ingest(params, Array.isArray(events) ? events.length : 0);
  },
});
