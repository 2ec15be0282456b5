/** Optimizers (docs/CONTRACTS.md, "Optimizers"): one per file, one `compile(student, opts)` shape. */
export type {
  CompileOptions,
  CompileReport,
  CompileResult,
  Optimizer,
  ProgressEvent,
  ProgressListener,
  RunEstimate,
  TrialRecord,
} from './types.js';
export { RunStopped } from './types.js';
export { AbortedError, RunContext, runCompile, type RunOptions } from './run.js';
export {
  Evaluate,
  EvaluationError,
  evaluateProgram,
  exportEvaluation,
  metricToNumber,
  DEFAULT_MAX_ERRORS,
  type EvaluateOptions,
  type EvaluateStartInputs,
  type EvaluationItem,
  type EvaluationResult,
} from './evaluate.js';
export { LabeledFewShot, applyLabeledDemos, type LabeledFewShotOptions } from './labeled_fewshot.js';
export {
  BootstrapFewShot,
  BootstrapRun,
  bootstrapSettings,
  metricPasses,
  type BootstrapFewShotOptions,
  type BootstrapSettings,
  type ExampleOutcome,
} from './bootstrap_fewshot.js';
export {
  BootstrapFewShotWithRandomSearch,
  type RandomSearchOptions,
  type CandidateRecord,
  type RankedCandidate,
  type RandomSearchResult,
} from './random_search.js';
export { MIPROv2, AUTO_RUN_SETTINGS, type AutoPreset, type MIPROv2Options } from './mipro_v2.js';
export { GEPA, type GEPAOptions, type GepaCandidate, type GepaReport } from './gepa.js';
export { GEPA_PRESET_CANDIDATES, presetMetricCalls, oneRoundMetricCalls, type GepaPreset } from './gepa/budget.js';
export { dominates, exampleFronts, frontierFrequencies, sampleParent, qualityCostFront, chooseByRule, type CostPoint, type SelectionRule } from './gepa/pareto.js';
export { TIPS, describeProgram, summarizeDataset, proposeInstruction } from './proposer.js';
export { CategoricalTPE, type TpeOptions, type TpeParams } from './tpe.js';
export { Rng, deriveSeed } from '../util/rng.js';
export { RunJournal, JournalConfigMismatchError, JournalCorruptError, JOURNAL_FILE } from './journal.js';
export {
  saveProgram,
  loadProgram,
  programToJson,
  saveProgramToFile,
  loadProgramFromFile,
  ProgramLoadError,
  PROGRAM_FORMAT,
  DSPY_FORMAT_VERSION,
  ELEXIRION_VERSION,
  type SavedProgram,
  type SavedMetadata,
  type PredictorState,
} from './program_io.js';
export { runOrdered, type Settled } from '../util/concurrency.js';
export { canonicalJson, hashJson } from '../util/canonical_json.js';
export { createOptimizer, OptimizerOptionSchemas, OPTIMIZER_NAMES, type OptimizerName, type AnyOptimizer } from './factory.js';
