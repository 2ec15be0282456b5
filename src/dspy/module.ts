/**
 * Module: the base of every DSPy program. Programs hold predictors (and sub-modules) in their
 * own properties; `namedPredictors` finds them with stable paths (`analyze.predict`,
 * `steps[0]`, `byName['x']`) that optimizers and save/load use as keys.
 */
import type { LM } from '../lm/types.js';
import { observed, type Callback } from './callbacks.js';
import { mapConcurrent } from '../util/concurrency.js';
import { Example } from './example.js';
import type { Prediction } from './prediction.js';
import type { Predict } from './predict.js';
import { settings } from './settings.js';

/** Options of `Module.batch`. */
export interface BatchOptions {
  /** Calls in flight at once (default 8). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Options of `Module.namedPredictors`. */
export interface NamedPredictorsOptions {
  /**
   * DSPy keeps a sub-module that is already compiled frozen: its predictors are not listed
   * (so an optimizer does not retune them). Set to include them anyway.
   */
  includeCompiled?: boolean;
}

/** A plain record (`{}` or a null-prototype object); callers have ruled out null and primitives. */
function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The base of every program (DSPy's `dspy.Module`): predictors in properties, `forward` to run, `call` to run observed. */
export abstract class Module {
  /** Set by optimizers on the programs they return. */
  compiled = false;

  /** Run the program on its input fields (implement this; callers use `call`). */
  abstract forward(inputs: Record<string, unknown>): Promise<Prediction>;

  /**
   * This module's own callbacks (DSPy's per-instance `callbacks`): they see this module's
   * start/end events, after the ones from settings. Not copied by deepCopy.
   */
  get callbacks(): readonly Callback[] {
    return instanceCallbacks.get(this) ?? NONE;
  }

  /** Replace this module's own callbacks. */
  set callbacks(value: readonly Callback[]) {
    instanceCallbacks.set(this, [...value]);
  }

  /**
   * Run the module. An Example is passed as its input fields (all fields when no input keys are
   * set). Callbacks in effect see onModuleStart/onModuleEnd around `forward`.
   */
  call(inputs: Record<string, unknown> | Example): Promise<Prediction> {
    const args = inputs instanceof Example ? { ...(inputs.inputKeys ? inputs.inputs() : inputs).fields() } : inputs;
    const global = settings.callbacks;
    const own = instanceCallbacks.get(this);
    if (global.length === 0 && !own?.length) return this.forward(args);
    return observed(own?.length ? [...global, ...own] : global, 'Module', this, args, () => this.forward(args));
  }

  /** True for predictors (`Predict`): leaves of the module tree. */
  isPredictor(): this is Predict {
    return false;
  }

  /** Every predictor with its path, in property order, each predictor once. A bare Predict is `self`. */
  namedPredictors(options: NamedPredictorsOptions = {}): Array<[string, Predict]> {
    if (this.isPredictor()) return [['self', this]];
    const out: Array<[string, Predict]> = [];
    const seenPredictors = new Set<Predict>();
    const seenObjects = new Set<object>([this]);
    const visit = (path: string, value: unknown): void => {
      if (value === null || typeof value !== 'object') return;
      if (value instanceof Module) {
        if (value.isPredictor()) {
          if (!seenPredictors.has(value)) {
            seenPredictors.add(value);
            out.push([path, value]);
          }
          return;
        }
        if (seenObjects.has(value)) return;
        seenObjects.add(value);
        if (value.compiled && !options.includeCompiled) return;
        walk(value, path);
        return;
      }
      if (seenObjects.has(value)) return;
      if (Array.isArray(value)) {
        seenObjects.add(value);
        value.forEach((item, i) => visit(`${path}[${i}]`, item));
      } else if (value instanceof Map) {
        seenObjects.add(value);
        for (const [k, item] of value) visit(`${path}['${String(k)}']`, item);
      } else if (isPlainObject(value)) {
        seenObjects.add(value);
        for (const k of Object.keys(value)) visit(`${path}['${k}']`, value[k]);
      }
    };
    const walk = (mod: Module, prefix: string): void => {
      for (const key of Object.keys(mod)) {
        visit(prefix ? `${prefix}.${key}` : key, (mod as unknown as Record<string, unknown>)[key]);
      }
    };
    walk(this, '');
    return out;
  }

  /** The predictors, in `namedPredictors` order. */
  predictors(options?: NamedPredictorsOptions): Predict[] {
    return this.namedPredictors(options).map(([, p]) => p);
  }

  /** The predictor at `path` (as given by namedPredictors). */
  predictor(path: string): Predict | undefined {
    return this.namedPredictors({ includeCompiled: true }).find(([p]) => p === path)?.[1];
  }

  /**
   * An independent copy: modules, arrays, plain objects, Maps and Sets are copied (shared
   * references stay shared within the copy); other values are shared: LMs (with their
   * caches and limiters), adapters, and immutable Signatures and Examples.
   * Subclasses holding other mutable state in class instances should override this.
   */
  deepCopy(): this {
    return copyValue(this, new Map()) as this;
  }

  /**
   * A deep copy with every predictor's demos cleared, except those of compiled sub-modules:
   * DSPy keeps those frozen (reset_copy resets `named_parameters()`, which skips them), so an
   * optimizer compiling a program around a pre-compiled part leaves that part's demos alone.
   */
  resetCopy(): this {
    const copy = this.deepCopy();
    for (const p of copy.predictors()) p.reset();
    copy.compiled = false;
    return copy;
  }

  /** Use `lm` for every predictor. */
  setLM(lm: LM | undefined): void {
    for (const p of this.predictors({ includeCompiled: true })) p.lm = lm;
  }

  /**
   * Run over many inputs with at most `concurrency` calls in flight; results keep input order.
   * Rejects with the first error. A `signal` stops new calls and is passed to every LM call.
   */
  batch(inputs: ReadonlyArray<Record<string, unknown> | Example>, options: BatchOptions = {}): Promise<Prediction[]> {
    const { signal } = options;
    if (!signal) return mapConcurrent(inputs, (x) => this.call(x), options);
    return settings.context({ signal }, () => mapConcurrent(inputs, (x) => this.call(x), options));
  }
}

const instanceCallbacks = new WeakMap<Module, readonly Callback[]>();
const NONE: readonly Callback[] = Object.freeze([]);

function copyValue(value: unknown, memo: Map<object, unknown>): unknown {
  if (value === null || typeof value !== 'object') return value;
  const seen = memo.get(value);
  if (seen !== undefined) return seen;
  if (value instanceof Module) {
    const copy = Object.create(Object.getPrototypeOf(value)) as Record<PropertyKey, unknown>;
    memo.set(value, copy);
    for (const key of Reflect.ownKeys(value)) {
      const desc = Object.getOwnPropertyDescriptor(value, key)!;
      if ('value' in desc) desc.value = copyValue(desc.value, memo);
      Object.defineProperty(copy, key, desc);
    }
    return copy;
  }
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    memo.set(value, copy);
    for (const item of value) copy.push(copyValue(item, memo));
    return copy;
  }
  if (value instanceof Map) {
    const copy = new Map();
    memo.set(value, copy);
    for (const [k, v] of value) copy.set(k, copyValue(v, memo));
    return copy;
  }
  if (value instanceof Set) {
    const copy = new Set();
    memo.set(value, copy);
    for (const v of value) copy.add(copyValue(v, memo));
    return copy;
  }
  if (isPlainObject(value)) {
    const copy: Record<string, unknown> = Object.getPrototypeOf(value) === null ? Object.create(null) : {};
    memo.set(value, copy);
    for (const k of Object.keys(value)) copy[k] = copyValue(value[k], memo);
    return copy;
  }
  return value;
}
