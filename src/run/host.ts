/**
 * What a run needs from whoever runs it: the sidecar (candidates execute in Elixir through
 * `pipeline/execute`), the continuous learner, or a Node program calling the library with its
 * own executor. Nothing here knows about JSON-RPC.
 */
import type { Logger } from 'pino';
import type { LM } from '../lm/types.js';
import type { Meter } from '../lm/meter.js';
import type { PipelineExecutor } from '../pipeline/index.js';
import type { RunProgress } from '../protocol/run.js';
import type { RunFaults } from './faults.js';

/** LMs by spec (the sidecar's LMRegistry is one). */
export interface RunLMs {
  get(spec: string): LM;
}

/** Who a run is, for the executor: its LM calls are attributed to `runId`. */
export interface RunIdentity {
  runId: string;
  lmSpec: string;
  timeoutMs: number;
}

export interface RunHost {
  lms: RunLMs;
  /** The LM spec a run uses when its params name none. */
  defaultLM: string;
  /** How this run's candidates execute. */
  executorFor(run: RunIdentity): PipelineExecutor;
  /** Cancels the run (a cancelled run throws; it is not a result). */
  signal?: AbortSignal;
  logger?: Logger;
  /** `$/progress`-shaped reports (phase, counts, scores, calls and cost so far). */
  progress?(value: RunProgress): void;
  /**
   * Wraps the whole run once it is prepared: the sidecar registers the meter and the fault
   * tracker under the run id here, so the LM calls Elixir makes for the run are counted,
   * capped and watched for faults.
   */
  track?<T>(runId: string, run: { meter: Meter; faults: RunFaults }, fn: () => Promise<T>): Promise<T>;
  /** Relative `outDir`s resolve against this (default `process.cwd()`). */
  cwd?: string;
}
