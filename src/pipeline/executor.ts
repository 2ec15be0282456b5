/**
 * The executor a PipelineProgram runs its candidates through: in production the sidecar's
 * `pipeline/execute` request to Elixir; in tests a TypeScript fake. The shapes are the wire's
 * (src/protocol/pipeline.ts, docs/CONTRACTS.md), so a result is validated at this boundary.
 *
 * Spend: an execution whose LM calls went through the sidecar (`lm/generate`, the Reference
 * executor) is already counted by the LM layer. One that spent outside it (pipeline_ex calling
 * its own providers) says so in `externalUsage`; `meteredExecutor` (which `withConcurrencyLimit`
 * applies) charges that to every current meter (src/lm/meter.ts) and checks the budgets before
 * each execution, so a run stops at its budget even when pipeline_ex does the spending.
 */
import { ElexirionError } from '../errors.js';
import { currentMeters } from '../lm/meter.js';
import type { UsageRecord } from '../lm/usage.js';
import { PipelineExecuteResult } from '../protocol/pipeline.js';
import { formatPath } from './errors.js';
import type { PipelineConfig } from './schema.js';
import { Slots } from '../util/concurrency.js';

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
export class PipelineExecutionError extends ElexirionError {
  override readonly code: string = 'PIPELINE_EXECUTION_ERROR';
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

/** Results already charged: a result passed through two metered wrappers is charged once. */
const charged = new WeakSet<object>();

/** The usage records of an execution's `externalUsage`: one per LM call with usage, plus the rest. */
function externalRecords(result: ExecuteResult, ext: NonNullable<ExecuteResult['externalUsage']>): UsageRecord[] {
  const records: UsageRecord[] = [];
  const seen = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  for (const call of result.calls ?? []) {
    if (!call.usage) continue;
    const model = typeof call.metadata?.['model'] === 'string' ? call.metadata['model'] : 'pipeline_ex';
    records.push({ model, cached: false, ...call.usage });
    seen.inputTokens += call.usage.inputTokens;
    seen.outputTokens += call.usage.outputTokens;
    seen.costUsd += call.usage.costUsd;
  }
  const rest = {
    inputTokens: Math.max(0, ext.inputTokens - seen.inputTokens),
    outputTokens: Math.max(0, ext.outputTokens - seen.outputTokens),
    costUsd: Math.max(0, ext.costUsd - seen.costUsd),
  };
  if (records.length === 0 || rest.inputTokens > 0 || rest.outputTokens > 0 || rest.costUsd > 1e-12) {
    records.push({ model: 'pipeline_ex', cached: false, ...rest });
  }
  return records;
}

/**
 * Charges an execution's `externalUsage` (spend made outside the sidecar) to every current
 * meter, once per result object. `usage` alone is never charged: it repeats what `lm/generate`
 * already counted.
 */
export function chargeExternalUsage(result: ExecuteResult): void {
  const ext = result.externalUsage;
  if (ext === undefined || charged.has(result)) return;
  charged.add(result);
  const records = externalRecords(result, ext);
  for (const meter of currentMeters()) for (const r of records) meter.record(r);
}

/** Throws BudgetExceededError when a current meter's budget is used up. */
export function checkBudgets(): void {
  for (const meter of currentMeters()) meter.check();
}

/** The same executor, starting only while the run's budgets allow and charging external spend. */
export function meteredExecutor(executor: PipelineExecutor): PipelineExecutor {
  return async (config, inputs, context) => {
    checkBudgets();
    const result = await executor(config, inputs, context);
    chargeExternalUsage(result);
    return result;
  };
}

/**
 * The same executor with at most `limit` executions in flight (the rest wait in FIFO order):
 * "every candidate x example runs concurrently up to a limit", whatever the optimizer's own
 * concurrency. Metered (`meteredExecutor`): an execution starts only once it has a slot and
 * the budgets allow, and its external spend is charged.
 */
export function withConcurrencyLimit(executor: PipelineExecutor, limit: number): PipelineExecutor {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  const metered = meteredExecutor(executor);
  const slots = new Slots(limit);
  return (config, inputs, context) => slots.run(() => metered(config, inputs, context));
}
