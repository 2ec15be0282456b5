/**
 * Where a run's pipeline and training data come from, as the `optimize`/`evaluate` wire params
 * name them (src/protocol/run.ts): a pipeline is `{path}` (YAML or JSON file) or `{config}`
 * (the map); training data is `{dir}` (one JSON file per example) or `{examples}` (inline).
 */
import type { Example } from '../dspy/index.js';
import { readInputText } from '../util/safe_read.js';
import { loadPipeline, parsePipeline } from './model.js';
import { loadYamlOffThread } from './yaml.js';
import type { PipelineConfig } from './schema.js';
import { examplesFromInline, TrainingDataManager } from './training_data.js';

export type PipelineSource = { path: string } | { config: Record<string, unknown> };
export type TrainingDataSource = { dir: string } | { examples: unknown[] };

export async function loadPipelineSource(source: PipelineSource): Promise<PipelineConfig> {
  // readInputText refuses a FIFO, device, directory or oversized file before opening it;
  // a large file is parsed off the main thread, which stays free to see EOF and signals.
  if ('path' in source) {
    const text = await readInputText(source.path, { limit: 'maxYamlBytes', subject: 'pipeline file' });
    return parsePipeline(await loadYamlOffThread(text, source.path), source.path);
  }
  return loadPipeline(source.config, 'params.pipeline.config');
}

/** Examples in a stable order (oldest first for a directory; as given when inline). */
export async function loadTrainingData(source: TrainingDataSource): Promise<Example[]> {
  return 'dir' in source ? new TrainingDataManager(source.dir).loadExamples() : examplesFromInline(source.examples, 'trainingData.examples');
}
