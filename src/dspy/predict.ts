/**
 * Predict: the one module that calls an LM. It formats its signature, demos and inputs with
 * the adapter in effect, calls its own LM or the one from settings, parses the completion
 * into typed outputs, and records a trace entry for optimizers.
 */
import { ElexirionError } from '../errors.js';
import type { GenerateOptions, LM } from '../lm/types.js';
import type { Adapter } from './adapter.js';
import type { Callback } from './callbacks.js';
import { ChatAdapter } from './chat_adapter.js';
import type { Example } from './example.js';
import { observeLM } from './lm_observer.js';
import { Module } from './module.js';
import { Prediction } from './prediction.js';
import { rolloutIdAt } from './rollout.js';
import { settings } from './settings.js';
import { Signature } from './signature.js';
import { recordTrace } from './trace.js';

/** Options of Predict. */
export interface PredictOptions {
  lm?: LM;
  /** Sampling options for every call (temperature, maxTokens, stop, ...). */
  config?: GenerateOptions;
  demos?: Example[];
  /** Adapter for this predictor only (default: settings.adapter, else a ChatAdapter). */
  adapter?: Adapter;
  /**
   * Samples per call (DSPy's `n`, default 1). With n > 1 the call makes n LM calls with
   * distinct rollout ids (temperature raised to 0.7 when unset or <= 0.15, as DSPy); the
   * Prediction holds the first sample and all of them in `completions`.
   */
  n?: number;
  /** Callbacks for this predictor's module events (after the ones from settings). */
  callbacks?: readonly Callback[];
}

/** A predictor ran with no LM of its own and none in settings. */
export class NoLMConfiguredError extends ElexirionError {
  override readonly code: string = 'NO_LM_CONFIGURED_ERROR';
  override name = 'NoLMConfiguredError';
}

let defaultAdapter: Adapter | undefined;

/** The module that calls an LM (DSPy's `dspy.Predict`): formats, calls, parses, records a trace entry. */
export class Predict extends Module {
  signature: Signature;
  demos: Example[];
  lm: LM | undefined;
  config: GenerateOptions;
  adapter: Adapter | undefined;
  /** Samples per call (see PredictOptions.n). */
  n: number;

  constructor(signature: Signature | string, options: PredictOptions = {}) {
    super();
    this.signature = typeof signature === 'string' ? Signature.parse(signature) : signature;
    this.demos = options.demos ? [...options.demos] : [];
    this.lm = options.lm;
    this.config = { ...options.config };
    this.adapter = options.adapter;
    const n = options.n ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Predict: n must be a positive integer, got ${String(options.n)}`);
    this.n = n;
    if (options.callbacks) this.callbacks = options.callbacks;
  }

  override isPredictor(): this is Predict {
    return true;
  }

  /** Clear demos (DSPy's `reset`; the LM and config are kept: they are configuration, not learned state). */
  reset(): void {
    this.demos = [];
  }

  /** The GenerateOptions of a call: this predictor's config with the context's temperature, rollout id, cache bypass and signal on top. */
  callOptions(): GenerateOptions {
    const ctx = settings.current();
    if (ctx.temperature === undefined && ctx.rolloutId === undefined && ctx.bypassCache === undefined && ctx.signal === undefined) {
      return this.config;
    }
    const opts: GenerateOptions = { ...this.config };
    if (ctx.temperature !== undefined) opts.temperature = ctx.temperature;
    if (ctx.rolloutId !== undefined) opts.rolloutId = ctx.rolloutId;
    if (ctx.bypassCache !== undefined) opts.bypassCache = ctx.bypassCache;
    if (ctx.signal !== undefined) opts.signal = ctx.signal;
    return opts;
  }

  /** One call: the adapter in effect formats, the LM answers, the outputs are parsed and traced. */
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const lm = this.lm ?? settings.lm;
    if (!lm) {
      throw new NoLMConfiguredError('No LM configured: pass one to the predictor, call settings.configure({ lm }), or use settings.context({ lm }, fn)');
    }
    const adapter = this.adapter ?? settings.adapter ?? (defaultAdapter ??= new ChatAdapter());
    if (this.n > 1) return this.forwardSamples(observeLM(lm), adapter, inputs);
    const { outputs } = await adapter.call(observeLM(lm), this.callOptions(), this.signature, this.demos, inputs);
    recordTrace({ predictor: this, inputs: { ...inputs }, outputs });
    return new Prediction(outputs);
  }

  /** n samples, sample i with rollout id base + i (base: the context's or config's id, else 0; sample 0 keeps the call's own). */
  private async forwardSamples(lm: LM, adapter: Adapter, inputs: Record<string, unknown>): Promise<Prediction> {
    const base = this.callOptions();
    const opts: GenerateOptions = { ...base };
    if (opts.temperature === undefined || opts.temperature <= 0.15) opts.temperature = 0.7;
    const rid = base.rolloutId;
    const sampleOptions = (i: number): GenerateOptions => {
      if (i === 0) return opts;
      return { ...opts, rolloutId: rolloutIdAt(rid, i) };
    };
    const results = await Promise.all(
      Array.from({ length: this.n }, (_, i) => adapter.call(lm, sampleOptions(i), this.signature, this.demos, inputs)),
    );
    const prediction = Prediction.fromCompletions(results.map((r) => r.outputs));
    recordTrace({ predictor: this, inputs: { ...inputs }, outputs: results[0]!.outputs });
    return prediction;
  }
}
