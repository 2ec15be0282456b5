import { TelemetryFlushParams, type TelemetryFlushResult } from '../../protocol/telemetry.js';
import { defineMethod } from '../registry.js';

/**
 * `telemetry/flush`: once every `telemetry/events` received before this request is handled
 * (the notification barrier), waits until it is fsynced; `durable` = records stored so far.
 */
export default defineMethod({
  method: 'telemetry/flush',
  kind: 'request',
  params: TelemetryFlushParams,
  handler(_params, ctx): TelemetryFlushResult | Promise<TelemetryFlushResult> {
    const { learning } = ctx.services;
    learning.assertEnabled();
    // No telemetry reached this process yet: nothing to make durable, and no reason to open
    // (and load) the store. Answered at once.
    if (!learning.started) return { durable: 0 };
    return (async () => {
      const learner = await learning.learner();
      await ctx.services.notificationBarrier();
      return learner.flush();
    })();
  },
});
