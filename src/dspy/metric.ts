import type { Example } from './example.js';
import type { Prediction } from './prediction.js';
import type { TraceEntry } from './trace.js';

/**
 * A score with words: what GEPA reflects on (DSPy's `dspy.Prediction(score=..., feedback=...)`).
 * `byPredictor` carries feedback that concerns one step of a multi-step program, keyed by the
 * predictor path (`analyze`, `review_loop.steps.check`); `feedback` is for the whole program.
 */
export interface MetricFeedback {
  score: number;
  feedback?: string;
  byPredictor?: Record<string, string>;
}

/** What a metric may return: a number, a boolean, or a score with textual feedback. */
export type MetricValue = number | boolean | MetricFeedback;

/**
 * A metric scores a prediction against its example. During bootstrapping `trace` is given
 * and a metric may be stricter (DSPy convention: return a bool when tracing). It may return
 * `{score, feedback}`: every optimizer reads the score; GEPA also reads the feedback.
 */
export type Metric = (
  example: Example,
  prediction: Prediction,
  trace?: readonly TraceEntry[],
) => MetricValue | Promise<MetricValue>;

/** True for a `{ score, feedback }` metric value. */
export function isMetricFeedback(v: unknown): v is MetricFeedback {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { score?: unknown }).score === 'number';
}
