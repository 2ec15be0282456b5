/**
 * The LM as predictors see it: every call is recorded in the history (inspectHistory) and
 * reported to the callbacks in effect (onLMStart / onLMEnd). Predict and TwoStepAdapter wrap
 * the LM they call with `observeLM`; the wrapper is made once per LM and delegates everything
 * else (cache, usage, budget) to it, so observing costs one lookup and one record per call.
 */
import type { ChatMessage, GenerateOptions, LM, LMCapabilities, LMResponse } from '../lm/types.js';
import { observed } from './callbacks.js';
import { recordHistory } from './history.js';
import { settings } from './settings.js';

const OBSERVED = Symbol('elexirion.observedLM');

class ObservedLM implements LM {
  readonly [OBSERVED] = true;
  constructor(readonly inner: LM) {}

  get provider(): string {
    return this.inner.provider;
  }

  get model(): string {
    return this.inner.model;
  }

  get capabilities(): LMCapabilities | undefined {
    return this.inner.capabilities;
  }

  generate(messages: ChatMessage[], options: GenerateOptions = {}): Promise<LMResponse> {
    const { callbacks, historySize } = settings.observation();
    if (callbacks.length === 0) return this.record(messages, options, historySize);
    return observed(callbacks, 'LM', this.inner, { messages, options }, () => this.record(messages, options, historySize));
  }

  /** Call the LM and keep the call in the history (a plain `then`: no extra async frame on the hot path). */
  private record(messages: ChatMessage[], options: GenerateOptions, historySize: number): Promise<LMResponse> {
    if (historySize === 0) return this.inner.generate(messages, options);
    const t0 = Date.now();
    return this.inner.generate(messages, options).then((response) => {
      const timestamp = Date.now();
      recordHistory(
        { provider: this.inner.provider, model: response.model, messages, options, outputs: [response.text], response, timestamp, durationMs: timestamp - t0 },
        historySize,
      );
      return response;
    });
  }
}

const wrappers = new WeakMap<LM, ObservedLM>();

/** `lm` with history and LM callbacks (idempotent: an observed LM is returned as is). */
export function observeLM(lm: LM): LM {
  if ((lm as Partial<ObservedLM>)[OBSERVED]) return lm;
  let w = wrappers.get(lm);
  if (!w) {
    w = new ObservedLM(lm);
    wrappers.set(lm, w);
  }
  return w;
}
