/**
 * Whether the pipeline's answer is JSON.
 *
 * With `field`: that prediction field must be an object/array, or a string that parses as JSON.
 * Without: the raw final answer is checked: `pipeline_result.output` (a string must parse as
 * JSON; an object/array already is). With `requireObject` (default true) only a JSON object
 * passes. With `requiredKeys`, the object must also have those keys.
 *
 * Returns `{score, feedback}` (score 1 / 0): the feedback says what is wrong (not JSON, not an
 * object, which keys are missing) and, as advice, which keys have another JSON type than in
 * the example's expected output.
 */
import type { Metric } from '../../dspy/index.js';
import { feedbackResult, quote } from './feedback.js';
import { expectedOutputOf, recordOf } from './fields.js';

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
  return (example, prediction) => {
    const rec = recordOf(prediction);
    const raw = options.field !== undefined ? rec[options.field] : recordOf(rec['pipeline_result'])['output'];
    const what = options.field !== undefined ? `The \`${options.field}\` field` : 'The answer';
    const fail = (feedback: string) => feedbackResult(prediction, 0, feedback);
    const parsed = parseJsonValue(raw);
    if (!parsed.ok) return fail(raw === undefined || raw === null ? `${what} is missing: answer with a JSON object.` : `${what} is not JSON: ${quote(raw)}. Answer with a JSON object only.`);
    const isObject = parsed.value !== null && typeof parsed.value === 'object' && !Array.isArray(parsed.value);
    if (requireObject && !isObject) return fail(`${what} is JSON but not an object (${jsonType(parsed.value)}): answer with a JSON object.`);
    const notes = isObject ? typeNotes(parsed.value as Record<string, unknown>, expectedOutputOf(example)) : [];
    if (options.requiredKeys && options.requiredKeys.length > 0) {
      if (!isObject) return fail(`${what} is JSON but not an object, so it has none of the keys ${options.requiredKeys.join(', ')}.`);
      const missing = options.requiredKeys.filter((k) => !(k in (parsed.value as Record<string, unknown>)));
      if (missing.length > 0) {
        return fail(`${what} is a JSON object but lacks the keys ${missing.map((k) => `\`${k}\``).join(', ')}.${notes.length ? ` ${notes.join(' ')}` : ''}`);
      }
    }
    return feedbackResult(prediction, 1, `${what} is valid JSON${isObject ? ' (an object)' : ''}.${notes.length ? ` ${notes.join(' ')}` : ''}`);
  };
}

/** `array`, `object`, `string`, `number`, `boolean`, `null`: the JSON type of a value. */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Keys whose JSON type differs from the expected output's (advice only: it does not change the score). */
function typeNotes(got: Record<string, unknown>, expected: Record<string, unknown>): string[] {
  const notes: string[] = [];
  for (const [k, want] of Object.entries(expected)) {
    if (!(k in got) || want === undefined) continue;
    const [g, w] = [jsonType(got[k]), jsonType(want)];
    if (g !== w) notes.push(`Key \`${k}\` is ${g === 'array' || g === 'object' ? 'an' : 'a'} ${g}; the expected output has ${w === 'array' || w === 'object' ? 'an' : 'a'} ${w}.`);
  }
  return notes;
}
