/**
 * Example: an immutable record of fields, some of them marked as inputs (DSPy's
 * `Example.with_inputs`). Used for training data, demos and (as Prediction) outputs.
 */

/** Options of `new Example(data, options)`. */
export interface ExampleOptions {
  /** The fields that are inputs (what `withInputs` sets). */
  inputKeys?: readonly string[];
}

function isKeyList(v: ExampleOptions | readonly string[] | undefined): v is readonly string[] {
  return Array.isArray(v);
}

/**
 * An immutable record of fields, some marked as inputs (DSPy's `dspy.Example`): training
 * data, demos and, as `Prediction`, outputs. Equality ignores key order and input keys.
 */
export class Example {
  protected readonly data: Readonly<Record<string, unknown>>;
  /** Keys marked as inputs by `withInputs`; undefined until then. */
  readonly inputKeys: readonly string[] | undefined;

  /**
   * `data`'s fields (copied), with the input keys from `options.inputKeys`, else from `data`
   * when it is an Example. A plain array as the second argument is read as the input keys
   * (the earlier positional form).
   */
  constructor(data: Record<string, unknown> | Example = {}, options?: ExampleOptions | readonly string[]) {
    const src = data instanceof Example ? data.fields() : data;
    const copy: Record<string, unknown> = {};
    for (const k of Object.keys(src)) copy[k] = src[k];
    this.data = Object.freeze(copy);
    const given = isKeyList(options) ? options : options?.inputKeys;
    const keys = given ?? (data instanceof Example ? data.inputKeys : undefined);
    this.inputKeys = keys ? Object.freeze([...keys]) : undefined;
  }

  /** A new Example of the same class with `data` (and input keys). */
  protected make(data: Record<string, unknown>, inputKeys: readonly string[] | undefined): this {
    const Ctor = this.constructor as new (d: Record<string, unknown>, o?: ExampleOptions) => this;
    return new Ctor(data, inputKeys === undefined ? {} : { inputKeys });
  }

  /** The value of `key`, or `fallback` when the field is absent. */
  get<T = unknown>(key: string, fallback?: T): T {
    return (Object.prototype.hasOwnProperty.call(this.data, key) ? this.data[key] : fallback) as T;
  }

  /** True when the field is present (even if its value is undefined or null). */
  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.data, key);
  }

  /** Keys, without DSPy-internal `dspy_*` keys unless asked. */
  keys(includeDspy = false): string[] {
    const ks = Object.keys(this.data);
    return includeDspy ? ks : ks.filter((k) => !k.startsWith('dspy_'));
  }

  /** The values, in key order (without `dspy_*` keys unless asked). */
  values(includeDspy = false): unknown[] {
    return this.keys(includeDspy).map((k) => this.data[k]);
  }

  /** The [key, value] pairs (without `dspy_*` keys unless asked). */
  entries(includeDspy = false): Array<[string, unknown]> {
    return this.keys(includeDspy).map((k) => [k, this.data[k]]);
  }

  /** Number of fields, `dspy_*` keys excluded (DSPy's `len(example)`). */
  get size(): number {
    return this.keys().length;
  }

  /** The fields themselves, frozen, without a copy (for readers on hot paths). */
  fields(): Readonly<Record<string, unknown>> {
    return this.data;
  }

  /**
   * All fields (including `dspy_*`) as a plain object, recursively as DSPy's `toDict`: nested
   * Examples (and Predictions) inside values, arrays and plain objects become plain objects too.
   */
  toDict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(this.data)) out[k] = plain(this.data[k]);
    return out;
  }

  /** JSON form: `toDict()`. */
  toJSON(): Record<string, unknown> {
    return this.toDict();
  }

  /** A copy whose input keys are `keys`. */
  withInputs(...keys: string[]): this {
    return this.make({ ...this.data }, keys);
  }

  /** The input fields only (DSPy raises when no input keys were set). */
  inputs(): this {
    const keys = this.requireInputKeys();
    const d: Record<string, unknown> = {};
    for (const k of keys) if (this.has(k)) d[k] = this.data[k];
    return this.make(d, keys);
  }

  /** The non-input fields. */
  labels(): this {
    const keys = new Set(this.requireInputKeys());
    const d: Record<string, unknown> = {};
    for (const k of Object.keys(this.data)) if (!keys.has(k)) d[k] = this.data[k];
    return this.make(d, this.inputKeys);
  }

  private requireInputKeys(): readonly string[] {
    if (!this.inputKeys) throw new Error('Inputs have not been set for this example. Use `example.withInputs(...keys)` to set them.');
    return this.inputKeys;
  }

  /** A copy with some fields replaced or added. */
  copy(overrides: Record<string, unknown> = {}): this {
    return this.make({ ...this.data, ...overrides }, this.inputKeys);
  }

  /** A copy without `keys`. */
  without(...keys: string[]): this {
    const d = { ...this.data };
    for (const k of keys) delete d[k];
    return this.make(d, this.inputKeys);
  }

  /**
   * DSPy's `Example.__eq__`: the same fields with equal values, compared deeply; key order and
   * input keys do not matter (two examples differing only in `withInputs` are equal).
   */
  equals(other: unknown): boolean {
    return other instanceof Example && deepEqual(this.data, other.data);
  }

  /** DSPy-like repr: `Example({...}) (input_keys=[...])`. */
  toString(): string {
    return `${this.constructor.name}(${JSON.stringify(this.data)}) (input_keys=${this.inputKeys ? JSON.stringify(this.inputKeys) : 'None'})`;
  }
}

/** Nested Examples to plain objects; arrays and plain objects are copied only on the way down. */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Example) return v.toDict();
  if (Array.isArray(v)) return v.map(plain);
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = plain((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** Structural equality of JSON-like values (Examples compared by their fields; key order ignored). */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof Example || b instanceof Example) return a instanceof Example && b instanceof Example && a.equals(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
