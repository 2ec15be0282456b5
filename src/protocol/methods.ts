import type * as z from 'zod';
import * as L from './lifecycle.js';
import * as LM from './lm.js';
import * as LR from './learning.js';
import * as N from './notifications.js';
import * as P from './pipeline.js';
import * as PL from './pipeline_load.js';
import * as R from './run.js';
import * as T from './telemetry.js';

export type Direction = 'elixir->node' | 'node->elixir' | 'both';

export interface WireMethodSpec {
  direction: Direction;
  kind: 'request' | 'notification';
  params: z.ZodType;
  result?: z.ZodType;
}

/** Every method of the wire, both directions. `protocol/PROTOCOL.md` documents each. */
export const wireMethods = {
  initialize: { direction: 'elixir->node', kind: 'request', params: L.InitializeParams, result: L.InitializeResult },
  ping: { direction: 'elixir->node', kind: 'request', params: L.PingParams, result: L.PingResult },
  shutdown: { direction: 'elixir->node', kind: 'request', params: L.ShutdownParams, result: L.ShutdownResult },
  exit: { direction: 'elixir->node', kind: 'notification', params: L.ExitParams },
  optimize: { direction: 'elixir->node', kind: 'request', params: R.OptimizeParams, result: R.OptimizeResult },
  evaluate: { direction: 'elixir->node', kind: 'request', params: R.EvaluateParams, result: R.EvaluateResult },
  'lm/generate': { direction: 'elixir->node', kind: 'request', params: LM.LmGenerateParams, result: LM.LmGenerateResult },
  'telemetry/flush': {
    direction: 'elixir->node',
    kind: 'request',
    params: T.TelemetryFlushParams,
    result: T.TelemetryFlushResult,
  },
  'telemetry/export': {
    direction: 'elixir->node',
    kind: 'request',
    params: T.TelemetryExportParams,
    result: T.TelemetryExportResult,
  },
  'telemetry/events': { direction: 'elixir->node', kind: 'notification', params: T.TelemetryEventsParams },
  'learning/config': {
    direction: 'elixir->node',
    kind: 'request',
    params: LR.LearningConfigParams,
    result: LR.LearningConfigResult,
  },
  'learning/optimize': {
    direction: 'elixir->node',
    kind: 'request',
    params: LR.LearningOptimizeParams,
    result: LR.LearningOptimizeResult,
  },
  'learning/status': {
    direction: 'elixir->node',
    kind: 'request',
    params: LR.LearningStatusParams,
    result: LR.LearningStatusResult,
  },
  'pipeline/load': { direction: 'elixir->node', kind: 'request', params: PL.PipelineLoadParams, result: PL.PipelineLoadResult },
  'learning/promoted': { direction: 'node->elixir', kind: 'notification', params: LR.LearningPromotedParams },
  '$/cancelRequest': { direction: 'both', kind: 'notification', params: N.CancelRequestParams },
  'pipeline/execute': {
    direction: 'node->elixir',
    kind: 'request',
    params: P.PipelineExecuteParams,
    result: P.PipelineExecuteResult,
  },
  '$/progress': { direction: 'node->elixir', kind: 'notification', params: N.ProgressParams },
  log: { direction: 'node->elixir', kind: 'notification', params: N.LogParams },
} as const satisfies Record<string, WireMethodSpec>;

export type WireMethodName = keyof typeof wireMethods;
