/**
 * Predict: the one module that calls an LM. It formats its signature, demos and inputs with
 * the adapter in effect, calls its own LM or the one from settings, parses the completion
 * into typed outputs, and records a trace entry for optimizers.
 */
import type { GenerateOptions, LM } from '../lm/types.js';
import type { Adapter } from './adapter.js';
import { ChatAdapter } from './chat_adapter.js';
import type { Example } from './example.js';
import { Module } from './module.js';
import { Prediction } from './prediction.js';
import { settings } from './settings.js';
import { Signature } from './signature.js';
import { recordTrace } from './trace.js';

export interface PredictOptions {
  lm?: LM;
  /** Sampling options for every call (temperature, maxTokens, stop, ...). */
  config?: GenerateOptions;
  demos?: Example[];
  /** Adapter for this predictor only (default: settings.adapter, else a ChatAdapter). */
  adapter?: Adapter;
}

export class NoLMConfiguredError extends Error {
  override name = 'NoLMConfiguredError';
}

let defaultAdapter: Adapter | undefined;

export class Predict extends Module {
  signature: Signature;
  demos: Example[];
  lm: LM | undefined;
  config: GenerateOptions;
  adapter: Adapter | undefined;

  constructor(signature: Signature | string, options: PredictOptions = {}) {
    super();
    this.signature = typeof signature === 'string' ? Signature.parse(signature) : signature;
    this.demos = options.demos ? [...options.demos] : [];
    this.lm = options.lm;
    this.config = { ...options.config };
    this.adapter = options.adapter;
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

  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const lm = this.lm ?? settings.lm;
    if (!lm) {
      throw new NoLMConfiguredError('No LM configured: pass one to the predictor, call settings.configure({ lm }), or use settings.context({ lm }, fn)');
    }
    const adapter = this.adapter ?? settings.adapter ?? (defaultAdapter ??= new ChatAdapter());
    const { outputs } = await adapter.call(lm, this.callOptions(), this.signature, this.demos, inputs);
    recordTrace({ predictor: this, inputs: { ...inputs }, outputs });
    return new Prediction(outputs);
  }
}
