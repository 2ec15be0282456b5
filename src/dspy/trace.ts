/**
 * Traces: every predictor call inside `withTrace` is recorded as {predictor, inputs, outputs}.
 * Optimizers read traces to turn successful runs into demos. The trace lives in async context
 * (AsyncLocalStorage), never in a global, so concurrent runs never see each other's entries.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Predict } from './predict.js';

/** One predictor call in a trace: the predictor, its inputs and its parsed outputs. */
export interface TraceEntry {
  predictor: Predict;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

const traceStore = new AsyncLocalStorage<TraceEntry[]>();

/**
 * Run `fn` collecting the trace of every predictor call it makes (including calls made by
 * concurrent tasks it starts and awaits). A nested `withTrace` collects its own calls only,
 * as DSPy's `context(trace=[])` does.
 */
export async function withTrace<T>(fn: () => Promise<T> | T): Promise<{ result: T; trace: TraceEntry[] }> {
  const trace: TraceEntry[] = [];
  const result = await traceStore.run(trace, fn);
  return { result, trace };
}

/** Append to the current trace; a no-op outside `withTrace`. */
export function recordTrace(entry: TraceEntry): void {
  traceStore.getStore()?.push(entry);
}

/** The trace being collected, if any (read-only view). */
export function currentTrace(): readonly TraceEntry[] | undefined {
  return traceStore.getStore();
}
