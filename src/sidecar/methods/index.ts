import type { AnyMethodDefinition } from '../registry.js';
import exit from './exit.js';
import initialize from './initialize.js';
import { withOptions } from './initialize_with_options.js';
import learningConfig from './learning_config.js';
import learningOptimize from './learning_optimize.js';
import learningStatus from './learning_status.js';
import telemetryEvents from './telemetry_events.js';
import telemetryExport from './telemetry_export.js';
import telemetryFlush from './telemetry_flush.js';
import evaluate from './evaluate.js';
import lmGenerate from './lm_generate.js';
import optimize from './optimize.js';
import ping from './ping.js';
import pipelineLoad from './pipeline_load.js';
import shutdown from './shutdown.js';

/**
 * Every method the sidecar serves. Append yours (one file per method in this directory);
 * register a method only once it really works — `initialize` advertises this list.
 *
 * Cold start (spawn -> initialize reply) must stay under 250 ms, and every file here is loaded
 * at startup: keep method files light (schema + handler) and import heavy modules (LM
 * providers, optimizers, stores) inside the handler with `await import(...)`, or build them
 * lazily in `services`.
 */
export const methods: AnyMethodDefinition[] = [
  withOptions(initialize),
  ping,
  shutdown,
  exit,
  lmGenerate,
  optimize,
  evaluate,
  telemetryEvents,
  telemetryFlush,
  telemetryExport,
  learningConfig,
  learningOptimize,
  learningStatus,
  pipelineLoad,
];
