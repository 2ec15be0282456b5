// When to re-optimize a pipeline (the seed's should_optimize), and the per-pipeline baselines
// it compares against, persisted atomically in one JSON file.
//
// shouldOptimize: yes when
//   - the window's success rate is below the pipeline's baseline success rate (the rate recorded
//     after its last optimization run, or config.baselineSuccessRate = 0.95 before any run), or
//   - more than config.minNewExamples (10) new examples arrived since its last optimization.
// A window with no executions (success_rate null) never counts as a degradation.
import * as z from 'zod';
import type { PipelineUsage } from './usage_export.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic_file.js';

export interface PolicyConfig {
  baselineSuccessRate: number;
  minNewExamples: number;
}
export const DEFAULT_POLICY: PolicyConfig = { baselineSuccessRate: 0.95, minNewExamples: 10 };

export const BaselineSchema = z.object({
  successRate: z.number().nullable(),
  lastOptimizedAt: z.number().nullable(),
  lastMode: z.enum(['light', 'full']).nullable(),
  lastDecision: z.string().nullable(),
  bestScore: z.number().nullable(),
});
export type Baseline = z.infer<typeof BaselineSchema>;

export interface PolicyInput {
  /** the pipeline's usage in the window (from computeUsage) */
  usage: Pick<PipelineUsage, 'success_rate' | 'count'>;
  /** examples gained since the pipeline's last optimization */
  newExamplesSinceLast: number;
}

export interface PolicyDecision {
  optimize: boolean;
  reasons: string[];
  threshold: number;
}

export function shouldOptimize(input: PolicyInput, baseline: Baseline | undefined, config: PolicyConfig = DEFAULT_POLICY): PolicyDecision {
  const threshold = baseline?.successRate ?? config.baselineSuccessRate;
  const reasons: string[] = [];
  const rate = input.usage.success_rate;
  if (rate !== null && rate < threshold) reasons.push(`success rate ${rate.toFixed(3)} below baseline ${threshold.toFixed(3)}`);
  if (input.newExamplesSinceLast > config.minNewExamples)
    reasons.push(`${input.newExamplesSinceLast} new examples since last optimization (> ${config.minNewExamples})`);
  return { optimize: reasons.length > 0, reasons, threshold };
}

const BaselineFileSchema = z.object({ version: z.literal(1), pipelines: z.record(z.string(), BaselineSchema) });

export class BaselineStore {
  private data: z.infer<typeof BaselineFileSchema> = { version: 1, pipelines: {} };
  private chain: Promise<void> = Promise.resolve();
  private constructor(private readonly path: string) {}

  static async open(path: string): Promise<BaselineStore> {
    const s = new BaselineStore(path);
    const raw = await readJsonIfExists(path);
    if (raw !== undefined) {
      const p = BaselineFileSchema.safeParse(raw);
      if (!p.success) throw new Error(`${path}: invalid baselines file: ${p.error.issues[0]?.message}`);
      s.data = p.data;
    }
    return s;
  }

  get(pipeline: string): Baseline | undefined {
    const b = this.data.pipelines[pipeline];
    return b ? { ...b } : undefined;
  }

  all(): Record<string, Baseline> {
    return JSON.parse(JSON.stringify(this.data.pipelines)) as Record<string, Baseline>;
  }

  /** Records a finished optimization run (whatever the guard decided) and persists. */
  async update(pipeline: string, patch: Partial<Baseline>): Promise<Baseline> {
    const prev: Baseline = this.data.pipelines[pipeline] ?? {
      successRate: null,
      lastOptimizedAt: null,
      lastMode: null,
      lastDecision: null,
      bestScore: null,
    };
    const next = BaselineSchema.parse({ ...prev, ...patch });
    this.data.pipelines[pipeline] = next;
    const snapshot = JSON.parse(JSON.stringify(this.data));
    const write = this.chain.then(() => writeJsonAtomic(this.path, snapshot));
    this.chain = write.catch(() => {});
    await write;
    return { ...next };
  }
}
