/**
 * The executor a PipelineProgram runs its candidates through: in production the sidecar's
 * `pipeline/execute` request to Elixir; in tests a TypeScript fake. The shapes are the wire's
 * (src/protocol/pipeline.ts, docs/CONTRACTS.md), so a result is validated at this boundary.
 */
import { PipelineExecuteResult } from '../protocol/pipeline.js';
import { formatPath } from './errors.js';
import type { PipelineConfig } from './schema.js';

export type ExecuteResult = PipelineExecuteResult;
export type StepResult = PipelineExecuteResult['steps'][string];

export interface ExecuteContext {
  runId?: string;
  /** Stable hash of the rendered config (`candidateId` in render.ts). */
  candidateId: string;
  /** Stable hash of the example's inputs. */
  exampleId?: string;
  /**
   * From the DSPy settings context of the call (`settings.context`): optimizers ask for a fresh
   * sample on purpose (BootstrapFewShot's later rounds: rolloutId + temperature 1.0), and a
   * cancelled run aborts `signal`. The executor should pass these on to every LM call of the
   * execution (`lm/generate` options) and abort the execution on `signal`.
   */
  rolloutId?: string | number;
  temperature?: number;
  bypassCache?: boolean;
  signal?: AbortSignal;
}

/** Run one rendered config on one example's inputs. */
export type PipelineExecutor = (
  config: PipelineConfig,
  inputs: Record<string, unknown>,
  context: ExecuteContext,
) => Promise<ExecuteResult>;

/** The executor reported `status: "error"`, or returned something that is not a result. */
export class PipelineExecutionError extends Error {
  override readonly name = 'PipelineExecutionError';
  constructor(
    message: string,
    readonly result?: unknown,
  ) {
    super(message);
  }
}

export function validateExecuteResult(value: unknown): ExecuteResult {
  const r = PipelineExecuteResult.safeParse(value);
  if (!r.success) {
    throw new PipelineExecutionError(
      `executor returned an invalid result: ${r.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')}`,
      value,
    );
  }
  return r.data;
}

/**
 * The same executor with at most `limit` executions in flight (the rest wait in FIFO order):
 * "every candidate x example runs concurrently up to a limit", whatever the optimizer's own
 * concurrency.
 */
export function withConcurrencyLimit(executor: PipelineExecutor, limit: number): PipelineExecutor {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (config, inputs, context) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await executor(config, inputs, context);
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
