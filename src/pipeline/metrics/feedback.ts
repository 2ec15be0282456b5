/**
 * Metric results with words: every shipped metric returns `{score, feedback, byPredictor?}`
 * (MetricFeedback). Optimizers that only rank read the score (metricToNumber / metricPasses);
 * GEPA's reflection LM reads the feedback. When the prediction comes from a pipeline, the
 * feedback about its answer is also attributed to the step that produced the answer (the last
 * top-level step that ran), so a multi-step pipeline's reflection on that step sees it and the
 * other steps see the program-level text.
 */
import type { MetricFeedback } from '../../dspy/index.js';
import { recordOf } from './fields.js';

/** Longest value quoted in feedback: feedback is read by an LM, keep it to the point. */
export const MAX_QUOTE_CHARS = 160;

/** A value as a short quote for feedback (JSON for non-strings, cut at MAX_QUOTE_CHARS). */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > MAX_QUOTE_CHARS ? `${text.slice(0, MAX_QUOTE_CHARS - 1)}…` : text;
}

/**
 * The step whose result is the pipeline's answer: the last top-level step that ran (the
 * result's `order`, else its `steps` in insertion order); undefined when the prediction
 * carries no `pipeline_result`.
 */
export function answerStepOf(prediction: unknown): string | undefined {
  const result = recordOf(recordOf(prediction)['pipeline_result']);
  const steps = recordOf(result['steps']);
  const order = Array.isArray(result['order']) ? (result['order'] as unknown[]).filter((s): s is string => typeof s === 'string') : Object.keys(steps);
  for (let i = order.length - 1; i >= 0; i--) {
    const r = steps[order[i] as string];
    if (r !== undefined && recordOf(r)['skipped'] !== true) return order[i];
  }
  return undefined;
}

/**
 * `{score, feedback}`, with the feedback also under the answer step in `byPredictor` when the
 * prediction is a pipeline's (the feedback is about the answer, which that step wrote).
 */
export function feedbackResult(prediction: unknown, score: number, feedback: string): MetricFeedback {
  const step = answerStepOf(prediction);
  return step === undefined ? { score, feedback } : { score, feedback, byPredictor: { [step]: feedback } };
}

/** A metric value as a score and words, whatever the metric returned. */
export function asFeedback(value: unknown): { score: number; feedback?: string; byPredictor?: Record<string, string> } {
  if (value !== null && typeof value === 'object' && typeof (value as MetricFeedback).score === 'number') return value as MetricFeedback;
  if (typeof value === 'boolean') return { score: value ? 1 : 0 };
  const n = Number(value);
  return { score: Number.isFinite(n) ? n : 0 };
}
