import { TelemetryExportParams, type TelemetryExportResult } from '../../protocol/telemetry.js';
import { invalidParams } from '../../rpc/errors.js';
import { defineMethod } from '../registry.js';

/** `telemetry/export {since, until?, pipeline?}`: usage over a window of the execution store. */
export default defineMethod({
  method: 'telemetry/export',
  kind: 'request',
  params: TelemetryExportParams,
  async handler(params, ctx): Promise<TelemetryExportResult> {
    ctx.services.learning.assertEnabled();
    const { parseTimeSpec } = await import('../../util/time_spec.js');
    const now = Date.now();
    for (const field of ['since', 'until'] as const) {
      const v = params[field];
      if (v === undefined) continue;
      try {
        parseTimeSpec(v, now);
      } catch (err) {
        throw invalidParams([{ path: [field], message: (err as Error).message }]);
      }
    }
    const learner = await ctx.services.learning.learner();
    return learner.exportUsage(params);
  },
});
