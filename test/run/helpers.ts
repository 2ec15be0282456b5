/** Runs in process: the run home with the offline LM and the TypeScript Reference executor. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LMRegistry } from '../../src/lm/registry.js';
import type { PipelineExecutor } from '../../src/pipeline/index.js';
import { PipelineDemoLM } from '../../src/pipeline/offline.js';
import type { OptimizeParams } from '../../src/protocol/run.js';
import type { RunHost } from '../../src/run/index.js';
import { ROOT } from '../support/build.js';
import { referenceExecutor } from '../pipeline/helpers.js';

export const CODE_ANALYSIS = join(ROOT, 'examples/code_analysis');

export function inProcessHost(executor?: PipelineExecutor): RunHost & { executions: number; lmsRegistry: LMRegistry } {
  const lms = new LMRegistry({ offline: (dummy) => new PipelineDemoLM(dummy, 'offline') });
  const host = {
    lms,
    lmsRegistry: lms,
    defaultLM: 'offline',
    executions: 0,
    executorFor: ({ lmSpec }: { lmSpec: string }): PipelineExecutor => {
      const inner = executor ?? referenceExecutor(lms.get(lmSpec));
      return (config, inputs, ctx) => {
        host.executions += 1;
        return inner(config, inputs, ctx);
      };
    },
  };
  return host;
}

export function codeAnalysisParams(extra: Partial<OptimizeParams> = {}): OptimizeParams {
  return {
    pipeline: { path: join(CODE_ANALYSIS, 'pipeline.yaml') },
    trainingData: { dir: join(CODE_ANALYSIS, 'training_data') },
    lm: 'offline',
    seed: 1,
    concurrency: 2,
    outDir: mkdtempSync(join(tmpdir(), 'elexirion-run-')),
    ...extra,
  };
}
