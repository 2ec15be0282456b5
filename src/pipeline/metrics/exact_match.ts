/**
 * Exact match of the predicted output against the expected output.
 *
 * - `fields` given: every listed field must match; otherwise every key of the example's
 *   expected output must match (the whole output).
 * - Values are compared as JSON (deep); with `normalize` (default true) strings are compared
 *   case- and whitespace-insensitively.
 * - `partial: true` scores the fraction of fields that match instead of 1 / 0.
 *
 * Returns `{score, feedback}`: the feedback lists each field that is missing or differs, with
 * the expected and the predicted value.
 */
import type { Metric } from '../../dspy/index.js';
import { feedbackResult, quote } from './feedback.js';
import { expectedOutputOf, jsonEqual, predictedOutputOf } from './fields.js';

export interface ExactMatchOptions {
  fields?: string[];
  normalize?: boolean;
  partial?: boolean;
}

export function exactMatch(options: ExactMatchOptions = {}): Metric {
  const loose = options.normalize ?? true;
  return (example, prediction) => {
    const expected = expectedOutputOf(example);
    const predicted = predictedOutputOf(prediction);
    const fields = options.fields ?? Object.keys(expected);
    if (fields.length === 0) return feedbackResult(prediction, 0, 'The example has no expected output to compare with: scored 0.');
    const wrong: string[] = [];
    for (const f of fields) {
      if (!(f in predicted)) wrong.push(`\`${f}\`: missing (expected ${quote(expected[f])})`);
      else if (!jsonEqual(predicted[f], expected[f], loose)) wrong.push(`\`${f}\`: expected ${quote(expected[f])}, got ${quote(predicted[f])}`);
    }
    const hits = fields.length - wrong.length;
    const score = options.partial ? hits / fields.length : wrong.length === 0 ? 1 : 0;
    const feedback =
      wrong.length === 0
        ? `Every field matches the expected output (${fields.map((f) => `\`${f}\``).join(', ')}).`
        : `${hits} of ${fields.length} fields match the expected output${loose ? ' (strings compared ignoring case and spacing)' : ''}. ${wrong.join('; ')}.`;
    return feedbackResult(prediction, score, feedback);
  };
}
