/** Runs in process: the run home with the offline LM and the TypeScript Reference executor. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LMError } from '../../src/lm/errors.js';
import { LMRegistry } from '../../src/lm_factory/registry.js';
import type { LM } from '../../src/lm/types.js';
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

/** A provider's rate limit once its own retries are spent: a transient fault. */
export const rateLimited = () => new LMError('openai: HTTP 429 rate limited', { kind: 'rate_limited', provider: 'openai', status: 429 });

/** `lm`, failing with a rate limit from call number `failFrom` on (while it is set). */
export function flaky(lm: LM): LM & { failFrom?: number; calls: number } {
  const f = {
    provider: lm.provider,
    model: lm.model,
    calls: 0,
    failFrom: undefined as number | undefined,
    async generate(...args: Parameters<LM['generate']>) {
      f.calls += 1;
      if (f.failFrom !== undefined && f.calls >= f.failFrom) throw rateLimited();
      return lm.generate(...args);
    },
  };
  return f;
}

/** An in-process host whose executions all go through one flaky LM. */
export function flakyHost(): ReturnType<typeof inProcessHost> & { lm: ReturnType<typeof flaky> } {
  const host = inProcessHost();
  const lm = flaky(host.lms.get('offline'));
  const inner = referenceExecutor(lm);
  host.executorFor = () => (config, inputs, ctx) => {
    host.executions += 1;
    return inner(config, inputs, ctx);
  };
  return Object.assign(host, { lm });
}
