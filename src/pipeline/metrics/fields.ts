/**
 * Reading fields off Examples and Predictions (and plain records), and the normalisation the
 * deterministic metrics share.
 */

interface HasToDict {
  toDict(): Record<string, unknown>;
}

/** Field -> value of an Example / Prediction / plain record. */
export function recordOf(value: unknown): Record<string, unknown> {
  if (value !== null && typeof value === 'object') {
    const maybe = value as Partial<HasToDict>;
    if (typeof maybe.toDict === 'function') return maybe.toDict();
    return value as Record<string, unknown>;
  }
  return {};
}

/**
 * The expected output of an example: its `expected_output` label when present (training data
 * keeps it whole), else its labels minus that key.
 */
export function expectedOutputOf(example: unknown): Record<string, unknown> {
  const rec = recordOf(example);
  const whole = rec['expected_output'];
  if (whole !== null && typeof whole === 'object' && !Array.isArray(whole)) return whole as Record<string, unknown>;
  const labels = (example as { labels?: () => unknown }).labels;
  const out = typeof labels === 'function' ? recordOf(labels.call(example)) : rec;
  const { expected_output: _ignored, ...rest } = out;
  return rest;
}

/** The output fields of a prediction, without the raw `pipeline_result`. */
export function predictedOutputOf(prediction: unknown): Record<string, unknown> {
  const { pipeline_result: _ignored, ...rest } = recordOf(prediction);
  return rest;
}

/** Lowercase, collapse whitespace, trim. */
export function normalizeText(s: string): string {
  return s.toLowerCase().replace(/\s+/g, ' ').trim();
}

/** Deep equality of JSON-like values; strings compared after `normalizeText` when `loose`. */
export function jsonEqual(a: unknown, b: unknown, loose: boolean): boolean {
  if (typeof a === 'string' && typeof b === 'string') return loose ? normalizeText(a) === normalizeText(b) : a === b;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (loose && (typeof a === 'string') !== (typeof b === 'string') && a !== null && b !== null && typeof a !== 'object' && typeof b !== 'object') {
    return normalizeText(String(a)) === normalizeText(String(b));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i], loose));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ak = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const bk = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    return ak.length === bk.length && ak.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], loose));
  }
  return a === b;
}
