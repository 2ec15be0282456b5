/**
 * Adapters turn (signature, demos, inputs) into chat messages and an LM completion back into
 * typed output fields. The shared pieces of DSPy's formatting live here; ChatAdapter and
 * JSONAdapter differ in the structure they ask for and how they parse.
 */
import { ElexirionError } from '../errors.js';
import type { ChatMessage, GenerateOptions, LM, LMResponse } from '../lm/types.js';
import { observed } from './callbacks.js';
import { Example } from './example.js';
import { coerceValue, TypeCoercionError } from './field_types.js';
import { pyJsonDumps } from './json_text.js';
import { settings } from './settings.js';
import { fieldTypeSpec, type Field, type Signature } from './signature.js';
import { streamTap } from './stream_session.js';

/** A demo: an Example or a plain record of input and output fields. */
export type Demo = Example | Record<string, unknown>;

/** A completion that does not fit the signature. `raw` is the LM's text; `field` the field at fault, if one. */
export class AdapterParseError extends ElexirionError {
  override readonly code: string = 'ADAPTER_PARSE_ERROR';
  override name = 'AdapterParseError';
  readonly raw: string;
  readonly field: string | undefined;
  readonly adapter: string;
  constructor(message: string, opts: { raw: string; field?: string | undefined; adapter: string; cause?: unknown }) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.raw = opts.raw;
    this.field = opts.field;
    this.adapter = opts.adapter;
  }
}

/** Turns (signature, demos, inputs) into chat messages and an LM completion back into typed outputs (DSPy's `Adapter`). */
export interface Adapter {
  readonly name: string;
  /** The messages for one call: system, demos as user/assistant pairs, the request. */
  format(signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): ChatMessage[];
  /**
   * Throws (or rejects with) AdapterParseError when a field is missing or does not fit its
   * type. Text adapters parse synchronously; TwoStepAdapter parses with an LM call.
   */
  parse(signature: Signature, completion: string): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Format, call the LM, parse (with the adapter's own fallback, if any). */
  call(lm: LM, options: GenerateOptions, signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): Promise<AdapterResult>;
}

/** What `Adapter.call` returns. */
export interface AdapterResult {
  outputs: Record<string, unknown>;
  /** The response whose text was parsed (the fallback's when it was used). */
  response: LMResponse;
  /** Name of the adapter that parsed the response. */
  adapter: string;
}

export const MISSING_FIELD_MESSAGE = 'Not supplied for this particular example. ';
export const INCOMPLETE_DEMO_PREFIX = 'This is an example of the task, though some input or output fields are not supplied.';

/** Plain record view of a demo. */
export function demoRecord(demo: Demo): Record<string, unknown> {
  return demo instanceof Example ? demo.fields() : demo;
}

function has(rec: Record<string, unknown>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(rec, k) && rec[k] !== undefined;
}

/** DSPy's `format_blob`. */
function formatBlob(blob: string): string {
  if (!blob.includes('\n') && !blob.includes('«') && !blob.includes('»')) return `«${blob}»`;
  return `«««\n    ${blob.replace(/\n/g, '\n    ')}\n»»»`;
}

/** DSPy's `format_field_value`: lists for str fields become numbered blobs, objects JSON, the rest text. */
export function formatFieldValue(field: Field | undefined, value: unknown): string {
  if (Array.isArray(value) && (!field || field.type === 'str')) {
    if (value.length === 0) return 'N/A';
    if (value.length === 1) return formatBlob(pyStr(value[0]));
    return value.map((v, i) => `[${i + 1}] ${formatBlob(pyStr(v))}`).join('\n');
  }
  return pyStr(value);
}

/** Python's `str()` of a JSON-able value, objects as `json.dumps`. */
export function pyStr(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return value.toISOString();
  return pyJsonDumps(value);
}

/** DSPy's `get_field_description_string` (2.6.x/3.x: always `: desc`, empty when the field has none). */
export function fieldDescriptions(fields: readonly Field[]): string {
  return fields
    .map((f, i) => `${i + 1}. \`${f.name}\` (${f.type}): ${f.description ?? ''}`)
    .join('\n')
    .trim();
}

/** Demo messages built once, with what they were built from. */
interface DemoCacheEntry {
  demos: readonly Demo[];
  /** Each list value of those demos, with a copy of its elements when the messages were built. */
  lists: ReadonlyArray<readonly [readonly unknown[], readonly unknown[]]>;
  messages: readonly ChatMessage[];
}

function isPlainValue(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}

/**
 * The list values of demos whose messages can be reused, or undefined when they cannot:
 * Examples (immutable) whose values are strings, numbers, booleans, null, or lists of those
 * (lists can be edited in place, so their elements are compared on every reuse). A plain
 * record or a nested object is formatted afresh on every call, as DSPy does.
 */
function listsOfCacheableDemos(demos: readonly Demo[]): Array<readonly [readonly unknown[], readonly unknown[]]> | undefined {
  const lists: Array<readonly [readonly unknown[], readonly unknown[]]> = [];
  for (const d of demos) {
    if (!(d instanceof Example)) return undefined;
    for (const v of Object.values(d.fields())) {
      if (isPlainValue(v)) continue;
      if (!Array.isArray(v) || !v.every(isPlainValue)) return undefined;
      lists.push([v, [...v]]);
    }
  }
  return lists;
}

/** The same demo objects as when the entry was built, their lists unchanged. */
function sameDemos(entry: DemoCacheEntry, demos: readonly Demo[]): boolean {
  if (entry.demos.length !== demos.length) return false;
  for (let i = 0; i < demos.length; i++) if (entry.demos[i] !== demos[i]) return false;
  for (const [live, copy] of entry.lists) {
    if (live.length !== copy.length) return false;
    for (let i = 0; i < copy.length; i++) if (!Object.is(live[i], copy[i])) return false;
  }
  return true;
}

/** Split demos the way DSPy does: incomplete ones (some fields missing) first, then complete ones; demos with no input or no output are dropped. */
export function partitionDemos(signature: Signature, demos: readonly Demo[]): { complete: Record<string, unknown>[]; incomplete: Record<string, unknown>[] } {
  const complete: Record<string, unknown>[] = [];
  const incomplete: Record<string, unknown>[] = [];
  for (const d of demos) {
    const rec = demoRecord(d);
    const isComplete = signature.fields.every((f) => has(rec, f.name) && rec[f.name] !== null);
    if (isComplete) complete.push(rec);
    else if (signature.inputFields.some((f) => has(rec, f.name)) && signature.outputFields.some((f) => has(rec, f.name))) incomplete.push(rec);
  }
  return { complete, incomplete };
}

/** `[[ ## name ## ]]\nvalue` blocks for the fields present in `values`. */
export function formatFieldBlocks(fields: readonly Field[], values: Record<string, unknown>, missing?: string): string {
  const parts: string[] = [];
  for (const f of fields) {
    if (has(values, f.name)) parts.push(`[[ ## ${f.name} ## ]]\n${formatFieldValue(f, values[f.name])}`);
    else if (missing !== undefined) parts.push(`[[ ## ${f.name} ## ]]\n${missing}`);
  }
  return parts.join('\n\n').trim();
}

/** Coerce one output field, turning a type mismatch into an AdapterParseError. */
export function parseOutputField(adapter: string, field: Field, value: unknown, fromText: boolean, raw: string): unknown {
  try {
    return coerceValue(fieldTypeSpec(field), value, fromText);
  } catch (e) {
    if (e instanceof TypeCoercionError) {
      throw new AdapterParseError(`${adapter}: failed to parse field \`${field.name}\` as ${field.type}: ${e.message}`, {
        raw,
        field: field.name,
        adapter,
        cause: e,
      });
    }
    throw e;
  }
}

/**
 * What ChatAdapter and JSONAdapter share, as DSPy's `Adapter` base: the message sequence
 * (system, demos as user/assistant pairs with incomplete demos first, then the request), the
 * field descriptions, the user messages, and format -> LM -> parse. Subclasses give the
 * structure they ask for (`fieldStructure`, `outputRequirements`, `assistantMessage`) and `parse`.
 */
export abstract class BaseAdapter implements Adapter {
  abstract readonly name: string;
  abstract parse(signature: Signature, completion: string): Record<string, unknown>;
  /** The structure section of the system message (how fields are laid out). */
  abstract fieldStructure(signature: Signature): string;
  /** The last line of the request: which output fields to write, in which form. */
  abstract outputRequirements(signature: Signature): string;
  /** A demo's outputs as the assistant would write them; `missing` fills absent fields. */
  abstract assistantMessage(signature: Signature, outputs: Record<string, unknown>, missing?: string): string;

  /** System messages depend only on the signature (immutable), so they are built once. */
  private readonly systemCache = new WeakMap<Signature, string>();

  /** The "Your input fields are: ... Your output fields are: ..." part of the system message. */
  fieldDescription(signature: Signature): string {
    return `Your input fields are:\n${fieldDescriptions(signature.inputFields)}\nYour output fields are:\n${fieldDescriptions(signature.outputFields)}`;
  }

  /** Field descriptions, structure and objective (cached per signature). */
  systemMessage(signature: Signature): string {
    let s = this.systemCache.get(signature);
    if (s === undefined) {
      s = `${this.fieldDescription(signature)}\n${this.fieldStructure(signature)}\n${taskDescription(signature.instructions)}`;
      this.systemCache.set(signature, s);
    }
    return s;
  }

  /** A user message: optional prefix, the input fields, and for the request the output requirements. */
  userMessage(signature: Signature, inputs: Record<string, unknown>, opts: { prefix?: string; mainRequest?: boolean } = {}): string {
    const parts = [opts.prefix ?? '', formatFieldBlocks(signature.inputFields, inputs)];
    if (opts.mainRequest) parts.push(this.outputRequirements(signature));
    return parts.join('\n\n').trim();
  }

  /**
   * The demo messages last built per signature. A predictor sends the same demos on every call,
   * and formatting them was most of Predict's cost with demos (bench/dspy.bench.mjs); reused
   * only for the very same immutable Examples holding plain values (see `cacheableDemos`).
   */
  private readonly demoCache = new WeakMap<Signature, DemoCacheEntry>();

  /** DSPy's message sequence: system, incomplete demos first, complete demos, then the request. */
  format(signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): ChatMessage[] {
    const messages: ChatMessage[] = [{ role: 'system', content: this.systemMessage(signature) }];
    if (demos.length) {
      for (const m of this.demoMessages(signature, demos)) messages.push({ role: m.role, content: m.content });
    }
    messages.push({ role: 'user', content: this.userMessage(signature, inputs, { mainRequest: true }) });
    return messages;
  }

  private demoMessages(signature: Signature, demos: readonly Demo[]): readonly ChatMessage[] {
    const hit = this.demoCache.get(signature);
    if (hit && sameDemos(hit, demos)) return hit.messages;
    const messages: ChatMessage[] = [];
    const { complete, incomplete } = partitionDemos(signature, demos);
    for (const d of incomplete) {
      messages.push({ role: 'user', content: this.userMessage(signature, d, { prefix: INCOMPLETE_DEMO_PREFIX }) });
      messages.push({ role: 'assistant', content: this.assistantMessage(signature, d, MISSING_FIELD_MESSAGE) });
    }
    for (const d of complete) {
      messages.push({ role: 'user', content: this.userMessage(signature, d) });
      messages.push({ role: 'assistant', content: this.assistantMessage(signature, d, MISSING_FIELD_MESSAGE) });
    }
    const lists = listsOfCacheableDemos(demos);
    if (lists) this.demoCache.set(signature, { demos: [...demos], lists, messages });
    else this.demoCache.delete(signature);
    return messages;
  }

  async call(lm: LM, options: GenerateOptions, signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): Promise<AdapterResult> {
    const callbacks = settings.callbacks;
    // Inside `streamify`, a listened predictor's call streams into its listeners.
    const tap = streamTap(signature, this.name, lm);
    const opts = tap?.onChunk ? { ...options, onChunk: tap.onChunk } : options;
    if (callbacks.length === 0) {
      const messages = this.format(signature, demos, inputs);
      const response = await lm.generate(messages, opts);
      const outputs = this.parse(signature, response.text);
      tap?.done(response, outputs);
      return { outputs, response, adapter: this.name };
    }
    // Observed: format and parse are reported as DSPy's on_adapter_format/parse events.
    const messages = await observed(callbacks, 'AdapterFormat', this, { signature, demos, inputs }, () => this.format(signature, demos, inputs));
    const response = await lm.generate(messages, opts);
    const outputs = await observed(callbacks, 'AdapterParse', this, { signature, completion: response.text }, () => this.parse(signature, response.text));
    tap?.done(response, outputs);
    return { outputs, response, adapter: this.name };
  }
}

/** DSPy's `format_task_description`: the objective, each instruction line indented by 8 spaces. */
export function taskDescription(instructions: string): string {
  const lines = dedent(instructions).split(/\r?\n/);
  return `In adhering to this structure, your objective is: ${['', ...lines].join('\n' + ' '.repeat(8))}`;
}

/** Python's textwrap.dedent (common leading whitespace removed). */
function dedent(text: string): string {
  const lines = text.split('\n');
  let common: string | undefined;
  for (const l of lines) {
    if (!l.trim()) continue;
    const ws = /^[ \t]*/.exec(l)![0];
    if (common === undefined) common = ws;
    else {
      let i = 0;
      while (i < common.length && i < ws.length && common[i] === ws[i]) i++;
      common = common.slice(0, i);
    }
  }
  if (!common) return lines.map((l) => (l.trim() ? l : '')).join('\n');
  return lines.map((l) => (l.trim() ? l.slice(common!.length) : '')).join('\n');
}
