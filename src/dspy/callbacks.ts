/**
 * Callbacks: DSPy's BaseCallback, the hook observability tools attach to. A callback is an
 * object with any of the handlers below; each call gets a fresh `callId` that pairs its start
 * and end events, and `parentCallId()` inside a handled call gives the enclosing call's id (for
 * span trees). Callbacks come from `settings.configure({ callbacks })` or
 * `settings.context({ callbacks }, fn)` (all events) and from a module's own `callbacks`
 * (its module events), as DSPy combines `settings.callbacks + instance.callbacks`.
 *
 * A handler that throws is ignored (DSPy logs a warning and goes on): observing never breaks
 * the program. With no callbacks configured nothing is allocated, so Predict pays nothing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { ChatMessage, GenerateOptions, LM, LMResponse } from '../lm/types.js';

/** Event handlers, all optional (DSPy names in camelCase). `instance` is the object being called. */
export interface Callback {
  /** A module call starts (`instance` is the module, `inputs` its inputs). */
  onModuleStart?(callId: string, instance: unknown, inputs: Record<string, unknown>): void;
  /** A module call ended with `outputs` (a Prediction) or `error`. */
  onModuleEnd?(callId: string, outputs: unknown, error: unknown): void;
  /** An LM call starts with these messages and options. */
  onLMStart?(callId: string, instance: LM, inputs: { messages: ChatMessage[]; options: GenerateOptions }): void;
  /** An LM call ended with its response or `error`. */
  onLMEnd?(callId: string, outputs: LMResponse | undefined, error: unknown): void;
  /** An adapter starts formatting (inputs: signature, demos, inputs). */
  onAdapterFormatStart?(callId: string, instance: unknown, inputs: Record<string, unknown>): void;
  /** An adapter formatted these messages (or failed with `error`). */
  onAdapterFormatEnd?(callId: string, outputs: ChatMessage[] | undefined, error: unknown): void;
  /** An adapter starts parsing a completion (inputs: signature, completion). */
  onAdapterParseStart?(callId: string, instance: unknown, inputs: Record<string, unknown>): void;
  /** An adapter parsed these outputs (or failed with `error`). */
  onAdapterParseEnd?(callId: string, outputs: Record<string, unknown> | undefined, error: unknown): void;
  /** A tool is called (inputs: the arguments the LM wrote). */
  onToolStart?(callId: string, instance: unknown, inputs: Record<string, unknown>): void;
  /** A tool returned `outputs` (or failed with `error`). */
  onToolEnd?(callId: string, outputs: unknown, error: unknown): void;
  /** An evaluation starts (fired by evaluators that call `observed(..., 'Evaluate', ...)`). */
  onEvaluateStart?(callId: string, instance: unknown, inputs: Record<string, unknown>): void;
  /** An evaluation ended with its result (or failed with `error`). */
  onEvaluateEnd?(callId: string, outputs: unknown, error: unknown): void;
}

/** DSPy's BaseCallback: subclass it and override the handlers you need (all are no-ops here). */
export class BaseCallback implements Callback {
  onModuleStart(_callId: string, _instance: unknown, _inputs: Record<string, unknown>): void {}
  onModuleEnd(_callId: string, _outputs: unknown, _error: unknown): void {}
  onLMStart(_callId: string, _instance: LM, _inputs: { messages: ChatMessage[]; options: GenerateOptions }): void {}
  onLMEnd(_callId: string, _outputs: LMResponse | undefined, _error: unknown): void {}
  onAdapterFormatStart(_callId: string, _instance: unknown, _inputs: Record<string, unknown>): void {}
  onAdapterFormatEnd(_callId: string, _outputs: ChatMessage[] | undefined, _error: unknown): void {}
  onAdapterParseStart(_callId: string, _instance: unknown, _inputs: Record<string, unknown>): void {}
  onAdapterParseEnd(_callId: string, _outputs: Record<string, unknown> | undefined, _error: unknown): void {}
  onToolStart(_callId: string, _instance: unknown, _inputs: Record<string, unknown>): void {}
  onToolEnd(_callId: string, _outputs: unknown, _error: unknown): void {}
  onEvaluateStart(_callId: string, _instance: unknown, _inputs: Record<string, unknown>): void {}
  onEvaluateEnd(_callId: string, _outputs: unknown, _error: unknown): void {}
}

/** The observed kinds of call; the handlers are `on<Event>Start` / `on<Event>End`. */
export type CallbackEvent = 'Module' | 'LM' | 'AdapterFormat' | 'AdapterParse' | 'Tool' | 'Evaluate';

const activeCall = new AsyncLocalStorage<string>();

/** The id of the handled call this code runs inside (undefined outside any, or with no callbacks). */
export function parentCallId(): string | undefined {
  return activeCall.getStore();
}

function safely(fn: (() => void) | undefined): void {
  if (!fn) return;
  try {
    fn();
  } catch {
    // A broken observer must not break the program (DSPy logs and continues).
  }
}

/**
 * Run `fn` as one observed call: start handlers, `fn` (with this call as the parent of calls
 * it makes), then end handlers with the result or the error (which is rethrown).
 */
export async function observed<T>(
  callbacks: readonly Callback[],
  event: CallbackEvent,
  instance: unknown,
  inputs: Record<string, unknown>,
  fn: () => Promise<T> | T,
): Promise<T> {
  const callId = randomUUID().replace(/-/g, '');
  const start = `on${event}Start` as const;
  const end = `on${event}End` as const;
  for (const cb of callbacks) {
    const h = cb[start] as ((id: string, inst: unknown, inp: unknown) => void) | undefined;
    safely(h && (() => h.call(cb, callId, instance, inputs)));
  }
  let result: T | undefined;
  let error: unknown;
  let failed = false;
  try {
    result = await activeCall.run(callId, fn);
    return result;
  } catch (e) {
    failed = true;
    error = e;
    throw e;
  } finally {
    for (const cb of callbacks) {
      const h = cb[end] as ((id: string, out: unknown, err: unknown) => void) | undefined;
      safely(h && (() => h.call(cb, callId, failed ? undefined : result, failed ? error : undefined)));
    }
  }
}
