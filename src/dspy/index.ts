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
export { coerceValue, parseTypeString, typeName, jsonSchemaOf, TypeCoercionError, type TypeSpec, type TypeRegistry } from './field_types.js';
export { Example } from './example.js';
export { Prediction } from './prediction.js';
export { Module, type BatchOptions, type NamedPredictorsOptions } from './module.js';
export { Predict, NoLMConfiguredError, type PredictOptions } from './predict.js';
export { ChainOfThought, REASONING_PREFIX, type ChainOfThoughtOptions } from './chain_of_thought.js';
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
export { JSONAdapter } from './json_adapter.js';
export { parseLenientJSON, pyJsonDumps } from './json_text.js';
