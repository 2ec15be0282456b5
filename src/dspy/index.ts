/** DSPy core: signatures, examples, modules, predictors, adapters, traces and settings. */
export {
  Signature,
  SignatureParseError,
  defaultInstructions,
  inferPrefix,
  fieldTypeSpec,
  type Field,
  type FieldInit,
  type FieldRole,
  type SignatureInit,
  type SignatureJSON,
  type SignatureFieldJSON,
  type SignatureParseOptions,
  type SignatureState,
} from './signature.js';
export { coerceValue, parseTypeString, typeName, jsonSchemaOf, EnumType, TypeCoercionError, type TypeSpec, type TypeRegistry } from './field_types.js';
export { Example, type ExampleOptions } from './example.js';
export { Prediction, Completions } from './prediction.js';
export { Module, type BatchOptions, type NamedPredictorsOptions } from './module.js';
export { Predict, NoLMConfiguredError, type PredictOptions } from './predict.js';
export { ChainOfThought, REASONING_PREFIX, LEGACY_REASONING_PREFIX, type ChainOfThoughtOptions } from './chain_of_thought.js';
export { withTrace, recordTrace, currentTrace, type TraceEntry } from './trace.js';
export { settings, Settings, type SettingsConfig, type ContextOverrides } from './settings.js';
export { isMetricFeedback, type Metric, type MetricFeedback, type MetricValue } from './metric.js';
export { mapConcurrent, type MapConcurrentOptions } from '../util/concurrency.js';
export {
  AdapterParseError,
  BaseAdapter,
  formatFieldValue,
  type Adapter,
  type AdapterResult,
  type Demo,
} from './adapter.js';
export { ChatAdapter, splitSections, type ChatAdapterOptions } from './chat_adapter.js';
export { JSONAdapter, type JSONAdapterOptions } from './json_adapter.js';
export { StreamListener, type StreamListenerOptions, type StreamResponse, type StreamFormat } from './stream_listener.js';
export {
  streamify,
  resolveStreamListeners,
  type StreamifyOptions,
  type StreamCallOptions,
  type StreamItem,
  type StreamifiedProgram,
} from './streamify.js';
export { outputJsonSchema, structuredResponseFormat, hasOpenEndedOutput, STRUCTURED_OUTPUT_NAME } from './structured_output.js';
export { XMLAdapter, formatXmlBlocks, xmlSections } from './xml_adapter.js';
export { TwoStepAdapter, type TwoStepAdapterOptions } from './two_step_adapter.js';
export { BaseCallback, observed, parentCallId, type Callback, type CallbackEvent } from './callbacks.js';
export { inspectHistory, formatHistory, lmHistory, clearHistory, DEFAULT_MAX_HISTORY_SIZE, type HistoryEntry, type InspectHistoryOptions } from './history.js';
export { observeLM } from './lm_observer.js';
export { parseLenientJSON, pyJsonDumps } from './json_text.js';
export { BestOfN, AllAttemptsFailedError, type BestOfNOptions, type RewardFn, type Attempt } from './best_of_n.js';
export { Refine, OFFER_FEEDBACK, HINT_FIELD, inspectModules, type RefineOptions } from './refine.js';
export { Parallel, ParallelExecutionError, type ParallelOptions, type ParallelOutcome, type ExecPair, type ParallelInput } from './parallel.js';
export { MultiChainComparison, type MultiChainComparisonOptions } from './multi_chain_comparison.js';
export { Tool, ToolArgsError, type ToolInit } from './tool.js';
export { ReAct, type ReActOptions } from './react.js';
export { rolloutIdAt } from './rollout.js';
export { pyRepr } from './json_text.js';
// DSPy's DummyLM (dspy.utils): answers in the adapters' formats, for tests and offline runs.
export { DummyLM, DummyLMError, type DummyLMConfig, type DummyLMOptions, type DummyAnswer } from './dummy_lm.js';
