/**
 * One home for a run: the sidecar's `optimize` and `evaluate`, the continuous learner and Node
 * programs all run pipelines through these functions, with a `RunHost` saying how candidates
 * execute (in Elixir through `pipeline/execute`, or any `PipelineExecutor`).
 */
export { optimizeRun } from './optimize.js';
export { evaluateRun } from './evaluate.js';
export type { RunHost, RunLMs, RunIdentity } from './host.js';
export { RunFaults, isTransientFault } from './faults.js';
export { RunFailedError, RunInputError, RunInterruptedError, RunParamsError } from './errors.js';
export { prepareRun, newRunId, metricSpecOf, DEFAULT_CONCURRENCY, DEFAULT_EXECUTION_TIMEOUT_MS, DEFAULT_METRIC, type PreparedRun, type RunParams } from './prepare.js';
export { splitExamples, DEFAULT_VAL_FRACTION } from './split.js';
export { canonicalOptimizerName, canEstimate, DEFAULT_OPTIMIZER, ESTIMATING_OPTIMIZERS } from './optimizer_names.js';
export { scoreHeldOut, type HeldOutScores } from './score.js';
export { decideVerdict, scaleOf, type VerdictInput } from './verdict.js';
export { dropFailingDemos } from './demo_check.js';
export { usageSummary, progressSink, type ProgressSink } from './progress.js';
export { checkOptimizer, checkOutputs, checkBudget, checkRunId, MAX_NAME_BYTES } from './validate.js';
