/**
 * Example: an immutable record of fields, some of them marked as inputs (DSPy's
 * `Example.with_inputs`). Used for training data, demos and (as Prediction) outputs.
 */

export class Example {
  protected readonly data: Readonly<Record<string, unknown>>;
  /** Keys marked as inputs by `withInputs`; undefined until then. */
  readonly inputKeys: readonly string[] | undefined;

  constructor(data: Record<string, unknown> | Example = {}, inputKeys?: readonly string[]) {
    const src = data instanceof Example ? data.toDict() : data;
    const copy: Record<string, unknown> = {};
    for (const k of Object.keys(src)) copy[k] = src[k];
    this.data = Object.freeze(copy);
    const keys = inputKeys ?? (data instanceof Example ? data.inputKeys : undefined);
    this.inputKeys = keys ? Object.freeze([...keys]) : undefined;
  }

  /** A new Example of the same class with `data` (and input keys). */
  protected make(data: Record<string, unknown>, inputKeys: readonly string[] | undefined): this {
    const Ctor = this.constructor as new (d: Record<string, unknown>, k?: readonly string[]) => this;
    return new Ctor(data, inputKeys);
  }

  get<T = unknown>(key: string, fallback?: T): T {
    return (Object.prototype.hasOwnProperty.call(this.data, key) ? this.data[key] : fallback) as T;
  }

  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.data, key);
  }

  /** Keys, without DSPy-internal `dspy_*` keys unless asked. */
  keys(includeDspy = false): string[] {
    const ks = Object.keys(this.data);
    return includeDspy ? ks : ks.filter((k) => !k.startsWith('dspy_'));
  }

  values(includeDspy = false): unknown[] {
    return this.keys(includeDspy).map((k) => this.data[k]);
  }

  entries(includeDspy = false): Array<[string, unknown]> {
    return this.keys(includeDspy).map((k) => [k, this.data[k]]);
  }

  get size(): number {
    return this.keys().length;
  }

  /** A shallow copy of all fields (including `dspy_*`). */
  toDict(): Record<string, unknown> {
    return { ...this.data };
  }

  toJSON(): Record<string, unknown> {
    return this.toDict();
  }

  /** A copy whose input keys are `keys`. */
  withInputs(...keys: string[]): this {
    return this.make(this.toDict(), keys);
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
    const d = this.toDict();
    for (const k of keys) delete d[k];
    return this.make(d, this.inputKeys);
  }

  /** Same fields with equal values (compared as JSON) and the same input keys. */
  equals(other: Example): boolean {
    return (
      JSON.stringify(this.data) === JSON.stringify(other.toDict()) &&
      JSON.stringify(this.inputKeys ?? null) === JSON.stringify(other.inputKeys ?? null)
    );
  }

  toString(): string {
    return `${this.constructor.name}(${JSON.stringify(this.data)}) (input_keys=${this.inputKeys ? JSON.stringify(this.inputKeys) : 'None'})`;
  }
}
