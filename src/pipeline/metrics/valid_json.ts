/**
 * Whether the pipeline's answer is JSON.
 *
 * With `field`: that prediction field must be an object/array, or a string that parses as JSON.
 * Without: the raw final answer is checked: `pipeline_result.output` (a string must parse as
 * JSON; an object/array already is). With `requireObject` (default true) only a JSON object
 * passes. With `requiredKeys`, the object must also have those keys.
 */
import type { Metric } from '../../dspy/index.js';
import { recordOf } from './fields.js';

export interface ValidJsonOptions {
  field?: string;
  requireObject?: boolean;
  requiredKeys?: string[];
}

export function parseJsonValue(value: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof value === 'string') {
    const text = value.trim().replace(/^```(?:json)?\s*\n([\s\S]*?)\n?```$/, '$1');
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch {
      return { ok: false };
    }
  }
  if (value !== null && typeof value === 'object') return { ok: true, value };
  return { ok: false };
}

export function validJson(options: ValidJsonOptions = {}): Metric {
  const requireObject = options.requireObject ?? true;
  return (_example, prediction) => {
    const rec = recordOf(prediction);
    const raw = options.field !== undefined ? rec[options.field] : recordOf(rec['pipeline_result'])['output'];
    const parsed = parseJsonValue(raw);
    if (!parsed.ok) return false;
    const isObject = parsed.value !== null && typeof parsed.value === 'object' && !Array.isArray(parsed.value);
    if (requireObject && !isObject) return false;
    if (options.requiredKeys && options.requiredKeys.length > 0) {
      if (!isObject) return false;
      return options.requiredKeys.every((k) => k in (parsed.value as Record<string, unknown>));
    }
    return true;
  };
}
