/**
 * Settings: the LM and adapter predictors use when they have none of their own. `configure`
 * sets global defaults; `context(overrides, fn)` scopes overrides to one async call tree
 * (AsyncLocalStorage), so concurrent optimizer rounds can use different LMs, temperatures or
 * rollout ids without racing on a global.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LM } from '../lm/types.js';
import type { Adapter } from './adapter.js';

export interface SettingsConfig {
  lm?: LM | undefined;
  adapter?: Adapter | undefined;
}

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

  get lm(): LM | undefined {
    return contextStore.getStore()?.lm ?? this.global.lm;
  }

  get adapter(): Adapter | undefined {
    return contextStore.getStore()?.adapter ?? this.global.adapter;
  }

  get rolloutId(): string | number | undefined {
    return contextStore.getStore()?.rolloutId;
  }

  get temperature(): number | undefined {
    return contextStore.getStore()?.temperature;
  }
}

const EMPTY: Readonly<ContextOverrides> = Object.freeze({});

export const settings = new Settings();
