/**
 * The seed's composite metric: every member must pass. A member that throws counts as a fail
 * (and is logged, with its name, to stderr); the others still run, so each failure is logged.
 * A stop (budget reached, run aborted) is not a fail: it propagates, so the run stops cleanly.
 * A boolean result passes when true; a numeric one when it is at least the member's
 * `threshold` (default 0.7, i.e. a judge's 7/10 in score mode); a `{score, feedback}` one by its
 * score. Returns `{score: 1 | 0, feedback}`: one line per member (pass/fail, score, its
 * feedback), and the members' per-step feedback (`byPredictor`) gathered step by step.
 */
import { isMetricFeedback, settings, type Metric, type MetricFeedback } from '../../dspy/index.js';
import { asFeedback } from './feedback.js';
import { pipelineLogger, type Logger } from '../log.js';

export interface CompositeMember {
  name: string;
  metric: Metric;
  threshold?: number;
}

export const DEFAULT_MEMBER_THRESHOLD = 0.7;

export function memberPassed(value: unknown, threshold = DEFAULT_MEMBER_THRESHOLD): boolean {
  if (isMetricFeedback(value)) return memberPassed(value.score, threshold);
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) && value >= threshold;
  return false;
}

/** Errors that end a run rather than judge a prediction: budget reached, run aborted. */
export function isStopError(err: unknown): boolean {
  const e = err as { name?: unknown; kind?: unknown } | null | undefined;
  if (e?.name === 'BudgetExceededError' || e?.name === 'AbortError') return true;
  if (e?.name === 'LMError' && e.kind === 'aborted') return true;
  return settings.current().signal?.aborted === true;
}

export function compositeMetric(members: Array<CompositeMember | Metric>, options: { logger?: Logger } = {}): Metric {
  const named: CompositeMember[] = members.map((m, i) => (typeof m === 'function' ? { name: `metric[${i}]`, metric: m } : m));
  if (named.length === 0) throw new Error('a composite metric needs at least one member');
  return async (example, prediction, trace) => {
    let all = true;
    const lines: string[] = [];
    const byPredictor: Record<string, string[]> = {};
    for (const m of named) {
      try {
        const value = await m.metric(example, prediction, trace);
        const passed = memberPassed(value, m.threshold);
        if (!passed) all = false;
        const f = asFeedback(value);
        const verdict = passed ? 'pass' : 'fail';
        lines.push(`${m.name} (${verdict}, score ${Math.round(f.score * 100) / 100}): ${f.feedback ?? 'no feedback'}`);
        for (const [path, text] of Object.entries(f.byPredictor ?? {})) (byPredictor[path] ??= []).push(`${m.name} (${verdict}): ${text}`);
      } catch (err) {
        // A budget or abort stop is not a verdict on the prediction: it ends the run, so it must
        // reach the optimizer (else a bootstrap journals a false fail that a resume never retries).
        if (isStopError(err)) throw err;
        all = false;
        lines.push(`${m.name} (fail): the evaluator failed (${(err as Error)?.message ?? String(err)}), counted as a fail.`);
        (options.logger ?? pipelineLogger()).warn(
          { metric: m.name, err: { name: (err as Error)?.name, message: (err as Error)?.message ?? String(err) } },
          'evaluator failed: counted as a fail',
        );
      }
    }
    const result: MetricFeedback = {
      score: all ? 1 : 0,
      feedback: `${all ? 'Every check passed' : 'Not every check passed'}:\n${lines.map((l) => `- ${l}`).join('\n')}`,
    };
    const paths = Object.entries(byPredictor);
    if (paths.length > 0) result.byPredictor = Object.fromEntries(paths.map(([p, texts]) => [p, texts.map((t) => `- ${t}`).join('\n')]));
    return result;
  };
}
