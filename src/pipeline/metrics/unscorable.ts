/**
 * A metric that cannot score an example says so here, besides failing closed. Fail-closed
 * judges return false / 0 for output they cannot read, so an optimizer never mistakes garbage
 * for a pass; but a judge that can read nothing at all would then score every program 0 and
 * an optimization run would "conclude" from noise. A run watches these notes
 * (`watchUnscorable`) and stops with the judge's reason instead.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const notes = new AsyncLocalStorage<string[]>();

/** Called by a metric that failed closed because it could not score: `reason` says why. */
export function noteUnscorable(reason: string): void {
  notes.getStore()?.push(reason);
}

/** Runs `fn` (one metric call) and returns its value with the unscorable notes it made. */
export async function watchUnscorable<T>(fn: () => T | Promise<T>): Promise<{ value: T; unscorable: string[] }> {
  const store: string[] = [];
  const value = await notes.run(store, fn);
  return { value, unscorable: store };
}
