/**
 * The `elexirion` package: a DSPy for TypeScript. Signatures, examples, modules and adapters;
 * LM providers behind one interface with caching, usage, budgets and rate limits; Evaluate and
 * every optimizer; the shipped metrics; save and load in DSPy's format. The sidecar (the
 * JSON-RPC server the Elixir client talks to) is the `elexirion/sidecar` entry.
 */

// --- the base class of every error the package throws (stable `code` per class)
export { ElexirionError } from './errors.js';

// --- DSPy core: signatures, examples, modules, predictors, adapters, traces, settings
export * from './dspy/index.js';

// --- LMs: the interface, providers, the LM-spec parser, cache, usage, budgets, rate limits
export * from './lm/index.js';
// --- an LM from a spec string (providers and the test LMs): createLM, LMRegistry
export * from './lm_factory/index.js';
/** @deprecated the earlier public name of `canonicalJson` (src/util/canonical_json.ts); kept so callers keep working. */
export { canonicalJson as canonicalJSON } from './util/canonical_json.js';

// --- optimizers: Evaluate, LabeledFewShot, BootstrapFewShot, random search, MIPROv2, GEPA, save/load
export * from './optimizers/index.js';

// --- metrics shipped with the project (also usable on any program's predictions)
export * from './pipeline/metrics/index.js';

// --- the HTML report of a run
export { writeReport, writeLearningReport, REPORT_FILE, type WriteReportOptions } from './report/write_report.js';
export { RunRecorder } from './report/recorder.js';

// --- run: one home for an optimization run (prepare, baseline, compile, verdict, write), usable without the sidecar
export * as run from './run/index.js';
export { optimizeRun, evaluateRun, type RunHost } from './run/index.js';
