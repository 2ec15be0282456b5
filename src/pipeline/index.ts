/**
 * pipeline_ex workflows as DSPy programs: the pipeline model (YAML, schema), programs whose
 * LLM steps are predictors, candidate rendering, training data, metrics and optimized outputs.
 * See docs/pipelines.md (the user-facing contract) and each module comment.
 */
export * from './errors.js';
export * from './schema.js';
export * from './yaml.js';
export {
  parsePipeline,
  loadPipeline,
  loadPipelineFile,
  dumpPipeline,
  isLlmStep,
  isOptimizableStep,
  optimizableSteps,
  outputStepOf,
  referencedStep,
  previousResponseRefs,
  type PreviousResponseRef,
} from './model.js';
export * from './acceptance.js';
export * from './prompts.js';
export * from './render.js';
export * from './executor.js';
export * from './step_output.js';
export * from './program.js';
export * from './training_data.js';
export * from './output.js';
export { writeFileAtomic, writeFileExclusive, isTempFile } from '../util/atomic_file.js';
export * from './metrics/index.js';
export * from './offline.js';
export * from './sources.js';
