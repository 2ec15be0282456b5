/**
 * Reading a step's result (`{text?, output?, success}` from `pipeline/execute`) as signature
 * fields, and as the value a later step's `previous_response` part sees.
 *
 * A skipped step (`skipped: true`) has no fields at all. Otherwise, into output fields
 * (`parseStepOutput`), first rule that applies:
 *   1. the step's structured value (`text` decoded as a JSON object, also inside a ```json
 *      fence or as the outermost {...} of the text; else `output` when it is an object; never
 *      `metadata`) is an object with at least one of the output fields: those fields are taken
 *      from it (absent ones stay absent);
 *   2. the signature has one output field: the text (or, with no text, the output) is its value;
 *   3. the signature has a `response` or else an `analysis` output field: the text goes there;
 *   4. otherwise nothing is parsed (the outputs are empty: no demo, and the metric sees no
 *      fields).
 *
 * As a `previous_response` value (`previousResponseValue`): without `extract`, the text (or the
 * output, JSON-encoded when it is not a string), as pipeline_ex inserts it; with `extract`, the
 * value at that dot path of the structured value.
 */
import type { StepResult } from './executor.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Decode JSON text leniently: whole text, a fenced block, or the outermost braces. */
export function decodeJsonObject(text: string): Record<string, unknown> | undefined {
  const tries: string[] = [text.trim()];
  const fence = /```(?:json)?\s*\n?([\s\S]*?)```/.exec(text);
  if (fence?.[1] !== undefined) tries.push(fence[1].trim());
  const first = text.indexOf('{');
  const last = text.lastIndexOf('}');
  if (first >= 0 && last > first) tries.push(text.slice(first, last + 1));
  for (const t of tries) {
    try {
      const v: unknown = JSON.parse(t);
      if (isRecord(v)) return v;
    } catch {
      // next
    }
  }
  return undefined;
}

function textOf(step: StepResult): string | undefined {
  if (typeof step.text === 'string') return step.text;
  if (typeof step.output === 'string') return step.output;
  return undefined;
}

/** The step did not run (its condition was false): it has no answer, so no fields and no demo. */
export function isSkipped(step: StepResult): boolean {
  return step.skipped === true;
}

/**
 * The structured value of a step's answer: its text decoded as a JSON object, else its object
 * output. The answer's JSON comes first: engine extras (cost, session_id, claude_smart_metadata,
 * ...) belong in `metadata`, and an object `output` next to a JSON text (as older executors sent
 * them) is never preferred to the answer.
 */
export function structuredValue(step: StepResult): Record<string, unknown> | undefined {
  if (isSkipped(step)) return undefined;
  const text = textOf(step);
  const fromText = text === undefined ? undefined : decodeJsonObject(text);
  if (fromText !== undefined) return fromText;
  return isRecord(step.output) ? step.output : undefined;
}

export function parseStepOutput(step: StepResult, outputFields: readonly string[]): Record<string, unknown> {
  if (isSkipped(step)) return {};
  const structured = structuredValue(step);
  if (structured && outputFields.some((f) => f in structured)) {
    const out: Record<string, unknown> = {};
    for (const f of outputFields) if (f in structured) out[f] = structured[f];
    return out;
  }
  const text = textOf(step);
  if (outputFields.length === 1) {
    const value = text ?? step.output;
    return value === undefined ? {} : { [outputFields[0] as string]: value };
  }
  if (text === undefined) return {};
  if (outputFields.includes('response')) return { response: text };
  if (outputFields.includes('analysis')) return { analysis: text };
  return {};
}

function atPath(value: unknown, path: string): unknown {
  let cur: unknown = value;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) && /^\d+$/.test(key) ? cur[Number(key)] : (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function previousResponseValue(step: StepResult, extract?: string): unknown {
  if (extract !== undefined) return atPath(structuredValue(step), extract);
  const text = textOf(step);
  if (text !== undefined) return text;
  if (step.output === undefined) return undefined;
  return JSON.stringify(step.output);
}
