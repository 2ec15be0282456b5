/**
 * Settings: the LM and adapter predictors use when they have none of their own. `configure`
 * sets global defaults; `context(overrides, fn)` scopes overrides to one async call tree
 * (AsyncLocalStorage), so concurrent optimizer rounds can use different LMs, temperatures or
 * rollout ids without racing on a global.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LM } from '../lm/types.js';
import type { Adapter } from './adapter.js';
import type { Callback } from './callbacks.js';
import { DEFAULT_MAX_HISTORY_SIZE } from './history.js';

/** What `settings.configure` sets (DSPy's `dspy.configure`). */
export interface SettingsConfig {
  lm?: LM | undefined;
  adapter?: Adapter | undefined;
  /** Observers of module, LM, adapter and tool events (DSPy's `callbacks`); a context's list replaces the global one. */
  callbacks?: readonly Callback[] | undefined;
  /** LM calls kept for inspectHistory (default 20; DSPy's `max_history_size`). */
  maxHistorySize?: number | undefined;
  /** Keep no LM history (DSPy's `disable_history`). */
  disableHistory?: boolean | undefined;
}

/** What `settings.context` may override for one async call tree. */
export interface ContextOverrides extends SettingsConfig {
  /** Passed into every LM call's GenerateOptions: a fresh sample on purpose (part of the cache key). */
  rolloutId?: string | number | undefined;
  /** Overrides the predictor's configured temperature. */
  temperature?: number | undefined;
  /** Skip cache lookups for calls in this scope. */
  bypassCache?: boolean | undefined;
  /** Passed to every LM call in this scope, so a cancelled run stops its calls. */
  signal?: AbortSignal | undefined;
}

const contextStore = new AsyncLocalStorage<ContextOverrides>();

/** Global defaults and async-scoped overrides (DSPy's `dspy.settings`); use the `settings` instance. */
export class Settings {
  private global: SettingsConfig = {};

  /** Set global defaults; keys given as undefined are cleared, keys not given are kept. */
  configure(config: SettingsConfig): void {
    this.global = { ...this.global, ...config };
  }

  /** Forget the global configuration (tests). */
  reset(): void {
    this.global = {};
  }

  /** Run `fn` with `overrides` on top of the enclosing context (nested contexts merge). */
  context<T>(overrides: ContextOverrides, fn: () => T): T {
    const parent = contextStore.getStore();
    const merged: ContextOverrides = { ...parent };
    for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    return contextStore.run(merged, fn);
  }

  /** The overrides in effect here (empty object outside any context). */
  current(): Readonly<ContextOverrides> {
    return contextStore.getStore() ?? EMPTY;
  }

  /** The LM in effect: the context's, else the global one. */
  get lm(): LM | undefined {
    return contextStore.getStore()?.lm ?? this.global.lm;
  }

  /** The adapter in effect: the context's, else the global one. */
  get adapter(): Adapter | undefined {
    return contextStore.getStore()?.adapter ?? this.global.adapter;
  }

  /** Callbacks in effect: the context's, else the global ones. */
  get callbacks(): readonly Callback[] {
    return contextStore.getStore()?.callbacks ?? this.global.callbacks ?? NO_CALLBACKS;
  }

  /** How many LM calls the history keeps here (0 when disabled). */
  get historySize(): number {
    return this.observation().historySize;
  }

  /** Callbacks and history bound in effect, read in one lookup (the per-LM-call path). */
  observation(): { callbacks: readonly Callback[]; historySize: number } {
    const ctx = contextStore.getStore();
    const g = this.global;
    const callbacks = ctx?.callbacks ?? g.callbacks ?? NO_CALLBACKS;
    if ((ctx?.disableHistory ?? g.disableHistory) === true) return { callbacks, historySize: 0 };
    const size = ctx?.maxHistorySize ?? g.maxHistorySize ?? DEFAULT_MAX_HISTORY_SIZE;
    return { callbacks, historySize: size > 0 ? Math.floor(size) : 0 };
  }

  /** The rollout id of the enclosing context, if any. */
  get rolloutId(): string | number | undefined {
    return contextStore.getStore()?.rolloutId;
  }

  /** The temperature override of the enclosing context, if any. */
  get temperature(): number | undefined {
    return contextStore.getStore()?.temperature;
  }
}

const EMPTY: Readonly<ContextOverrides> = Object.freeze({});
const NO_CALLBACKS: readonly Callback[] = Object.freeze([]);

/** The one Settings instance predictors read. */
export const settings = new Settings();
