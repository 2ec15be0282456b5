/**
 * A run's host inside the sidecar (src/run/host.ts): candidates execute in Elixir through
 * `pipeline/execute`, LMs come from the shared registry, progress goes out as `$/progress`,
 * and the run's meter and fault tracker are registered under its id, so the `lm/generate`
 * calls Elixir makes for it are counted, capped and watched for provider faults.
 *
 * The run, pipeline and LM modules are imported lazily by the handlers that need them, so a
 * sidecar that only answers `ping` never loads them (cold start is measured).
 */
import type { ExecuteContext, PipelineExecutor } from '../pipeline/index.js';
import type { RunProgress } from '../protocol/run.js';
import type { RunHost, RunIdentity } from '../run/host.js';
import type { MethodContext } from './registry.js';
import type { CoreServices } from './services.js';

/**
 * What a run needs from its surroundings: a request's MethodContext is one; the learner's
 * scheduled runs, which belong to no request, build one from the services (learning_runner.ts).
 */
export type RunEnv = Pick<MethodContext, 'peer' | 'signal' | 'logger'> & { services: CoreServices };

/** Each candidate x example runs in Elixir; the run's LM and fresh-sample hints ride along. */
export function peerExecutor(ctx: Pick<RunEnv, 'peer' | 'signal'>, run: RunIdentity): PipelineExecutor {
  return async (config, inputs, c: ExecuteContext) => {
    const context: Record<string, unknown> = { runId: run.runId, candidateId: c.candidateId, lm: run.lmSpec };
    if (c.exampleId !== undefined) context.exampleId = c.exampleId;
    if (c.rolloutId !== undefined) context.rolloutId = c.rolloutId;
    if (c.temperature !== undefined) context.temperature = c.temperature;
    const signal = c.signal ? AbortSignal.any([c.signal, ctx.signal]) : ctx.signal;
    const { validateExecuteResult } = await import('../pipeline/executor.js');
    const raw = await ctx.peer.request(
      'pipeline/execute',
      { config, inputs, context, timeoutMs: run.timeoutMs },
      // Elixir enforces timeoutMs on the execution itself; ours covers the wire on top.
      { timeoutMs: run.timeoutMs + 5_000, signal },
    );
    return validateExecuteResult(raw);
  };
}

/** The sidecar as a run's host, for a request (`progress` = its `$/progress`) or the learner. */
export async function sidecarHost(env: RunEnv, progress?: (value: RunProgress) => void): Promise<RunHost> {
  const lms = await env.services.lms();
  return {
    lms,
    defaultLM: env.services.defaultLM,
    executorFor: (run) => peerExecutor(env, run),
    signal: env.signal,
    logger: env.logger,
    ...(progress ? { progress } : {}),
    track: (runId, run, fn) => env.services.runs.with(runId, run.meter, fn, run.faults),
  };
}
