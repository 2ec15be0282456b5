/**
 * Scoring for GEPA: run a candidate over examples (concurrently, committed in order), keep each
 * example's trace and the metric's score and feedback, and count metric calls against the
 * run's cap *before* spending them, so a run never makes one metric call past `maxMetricCalls`.
 * Also measures what the candidate costs per execution (tokens, USD, wall time) from the run's
 * meter, which is exact because GEPA scores one candidate at a time.
 */
import { isMetricFeedback, withTrace, type Example, type Metric, type Module, type Prediction, type TraceEntry } from '../../dspy/index.js';
import { runOrdered } from '../../util/concurrency.js';
import { metricToNumber } from '../evaluate.js';
import { RunStopped } from '../types.js';
import type { RunContext } from '../run.js';

export interface ScoredExample {
  score: number;
  feedback: string;
  byPredictor?: Record<string, string>;
  prediction: Prediction | null;
  trace: TraceEntry[];
  error?: string;
}

export interface BatchScore {
  items: ScoredExample[];
  /** Per execution, measured on the meter while this batch ran. */
  cost: { tokens: number; costUsd: number; latencyMs: number };
}

/** Counts metric calls and refuses a batch the remaining budget cannot pay for whole. */
export class MetricCallBudget {
  used = 0;
  constructor(readonly max: number | undefined) {}

  remaining(): number {
    return this.max === undefined ? Infinity : this.max - this.used;
  }

  /** Reserves `n` calls or throws RunStopped: a partial batch would be a meaningless score. */
  reserve(n: number): void {
    if (this.max !== undefined && this.used + n > this.max) {
      throw new RunStopped(`budget: max metric calls ${this.max} reached (${this.used} used, next step needs ${n})`);
    }
    this.used += n;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** The default feedback when a metric gives only a number (DSPy's wording of the same idea). */
export function defaultFeedback(score: number): string {
  return `This trajectory got a score of ${score}.`;
}

export async function scoreBatch(
  ctx: RunContext,
  program: Module,
  examples: readonly Example[],
  metric: Metric,
  budget: MetricCallBudget,
): Promise<BatchScore> {
  budget.reserve(examples.length);
  const items: ScoredExample[] = new Array(examples.length);
  const before = ctx.meter.usage.snapshot();
  let latency = 0;
  await runOrdered<{ item: ScoredExample; ms: number }>(
    examples.length,
    async (i) => {
      ctx.checkStop();
      const example = examples[i] as Example;
      const started = performance.now();
      let prediction: Prediction | null = null;
      let trace: TraceEntry[] = [];
      try {
        const run = await withTrace(() => program.call(example.inputs().toDict()));
        prediction = run.result;
        trace = run.trace;
      } catch (err) {
        if (ctx.isStop(err)) throw err;
        const ms = performance.now() - started;
        return { item: { score: 0, feedback: `The program failed: ${errorText(err)}`, prediction: null, trace: [], error: errorText(err) }, ms };
      }
      const ms = performance.now() - started;
      const value = await metric(example, prediction, trace);
      const score = metricToNumber(value);
      const item: ScoredExample = { score, feedback: defaultFeedback(score), prediction, trace };
      if (isMetricFeedback(value)) {
        if (value.feedback) item.feedback = value.feedback;
        if (value.byPredictor) item.byPredictor = value.byPredictor;
      }
      return { item, ms };
    },
    (i, outcome) => {
      if (!outcome.ok) throw outcome.error; // the metric itself threw: a broken metric ends the run
      items[i] = outcome.value.item;
      latency += outcome.value.ms;
      return 'continue';
    },
    { limit: ctx.concurrency, isFatal: (e) => ctx.isStop(e) },
  );
  const after = ctx.meter.usage.snapshot();
  const n = Math.max(1, examples.length);
  return {
    items,
    cost: {
      tokens: (after.inputTokens + after.outputTokens - before.inputTokens - before.outputTokens) / n,
      costUsd: (after.costUsd - before.costUsd) / n,
      latencyMs: latency / n,
    },
  };
}
