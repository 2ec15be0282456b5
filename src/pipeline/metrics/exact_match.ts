/**
 * Exact match of the predicted output against the expected output.
 *
 * - `fields` given: every listed field must match; otherwise every key of the example's
 *   expected output must match (the whole output).
 * - Values are compared as JSON (deep); with `normalize` (default true) strings are compared
 *   case- and whitespace-insensitively.
 * - `partial: true` returns the fraction of fields that match instead of a boolean.
 */
import type { Metric } from '../../dspy/index.js';
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
    if (fields.length === 0) return options.partial ? 0 : false;
    const hits = fields.filter((f) => f in predicted && jsonEqual(predicted[f], expected[f], loose)).length;
    return options.partial ? hits / fields.length : hits === fields.length;
  };
}
