import { LmGenerateParams, type LmGenerateResult } from '../../protocol/lm.js';
import { runWithMeter } from '../../lm/meter.js';
import type { GenerateOptions } from '../../lm/types.js';
import { defineMethod } from '../registry.js';

/**
 * One LM call through the sidecar's shared LMs: one provider config, one cache, one usage
 * tracker for everything (the Reference executor's steps in Elixir come through here). A call
 * tagged with the `runId` of a running optimization counts toward that run's budget, and a
 * provider fault it meets (after the provider's retries) stops that run cleanly.
 */
export default defineMethod({
  method: 'lm/generate',
  kind: 'request',
  params: LmGenerateParams,
  async handler(params, ctx): Promise<LmGenerateResult> {
    const { lms, runs, defaultLM } = ctx.services;
    const lm = (await lms()).get(params.lm ?? defaultLM);
    const options: GenerateOptions = { ...params.options, signal: ctx.signal };
    const call = () => lm.generate(params.messages, options);
    const meter = params.runId ? runs.meter(params.runId) : undefined;
    let res;
    try {
      res = meter ? await runWithMeter(meter, call) : await call();
    } catch (err) {
      // Before Elixir hears of it: the run stops on the fault rather than journal a failed example.
      if (params.runId) runs.faults(params.runId)?.report(err);
      throw err;
    }
    return { text: res.text, usage: res.usage, model: res.model, cached: res.cached, costUsd: res.costUsd };
  },
});
