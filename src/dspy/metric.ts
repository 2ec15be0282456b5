import type { Example } from './example.js';
import type { Prediction } from './prediction.js';
import type { TraceEntry } from './trace.js';

/**
 * A metric scores a prediction against its example. During bootstrapping `trace` is given
 * and a metric may be stricter (DSPy convention: return a bool when tracing).
 */
export type Metric = (
  example: Example,
  prediction: Prediction,
  trace?: readonly TraceEntry[],
) => number | boolean | Promise<number | boolean>;
