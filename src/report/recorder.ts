/**
 * Builds a run's `run.json` while it runs: progress events become the spend timeline (sampled,
 * so a run of thousands of trials still writes a small file), and `finish` adds what only the
 * end knows. Written atomically into the run directory; the report reads nothing else.
 */
import { join } from 'node:path';
import type { Example, Module } from '../dspy/index.js';
import type { CompileReport, ProgressEvent } from '../optimizers/types.js';
import { writeFileAtomic } from '../util/atomic_file.js';
import { RUN_RECORD_FILE, RUN_RECORD_FORMAT, RunRecord, type PredictorChange, type RunRecordInput, type TimelinePoint } from './run_record.js';

/** Timeline points kept at most: past it, every other point is dropped (the shape survives). */
const MAX_TIMELINE = 2000;

export interface RecorderStart {
  runId: string;
  settings: RunRecordInput['settings'];
  now?: () => number;
}

export interface RecorderFinish {
  report: CompileReport;
  verdict?: RunRecordInput['verdict'];
  resumed?: RunRecordInput['resumed'];
  /** Held-out examples with the per-example scores of the baseline and the best program. */
  heldOut?: { examples: readonly Example[]; baseline: readonly number[]; best: readonly number[]; ids?: ReadonlyMap<Example, string | number> };
  before?: Module;
  after?: Module;
  pareto?: RunRecordInput['pareto'];
}

export class RunRecorder {
  private readonly started: number;
  private readonly startedAt: string;
  private readonly now: () => number;
  private timeline: TimelinePoint[] = [];
  private stride = 1;
  private seen = 0;

  constructor(private readonly start: RecorderStart) {
    this.now = start.now ?? Date.now;
    this.started = this.now();
    this.startedAt = new Date(this.started).toISOString();
  }

  /** A progress listener: chain it in front of the caller's. */
  onProgress = (e: ProgressEvent): void => {
    this.seen += 1;
    if (this.seen % this.stride !== 0) return;
    this.timeline.push({ t: Math.max(0, this.now() - this.started), phase: e.phase, calls: e.calls, costUsd: e.costUsd });
    if (this.timeline.length > MAX_TIMELINE) {
      this.timeline = this.timeline.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  };

  build(f: RecorderFinish): RunRecord {
    const r = f.report;
    const input: RunRecordInput = {
      format: RUN_RECORD_FORMAT,
      runId: this.start.runId,
      startedAt: this.startedAt,
      finishedAt: new Date(this.now()).toISOString(),
      settings: this.start.settings,
      cutShort: r.cutShort,
      ...(r.cutShortReason ? { cutShortReason: r.cutShortReason } : {}),
      ...(f.resumed ? { resumed: f.resumed } : {}),
      ...(f.verdict ? { verdict: f.verdict } : {}),
      ...(r.baselineScore !== undefined ? { baselineScore: r.baselineScore } : {}),
      ...(r.bestScore !== undefined ? { bestScore: r.bestScore } : {}),
      trials: r.trials.map((t) => ({ ...t })),
      timeline: this.timeline,
      examples: f.heldOut
        ? f.heldOut.examples.map((ex, i) => ({
            id: f.heldOut?.ids?.get(ex) ?? (ex.get('id') as string | number | undefined) ?? i,
            baseline: f.heldOut?.baseline[i] ?? 0,
            best: f.heldOut?.best[i] ?? 0,
            input: ex.inputs().toDict(),
          }))
        : [],
      predictors: f.before && f.after ? predictorChanges(f.before, f.after) : [],
      ...(f.pareto ? { pareto: f.pareto } : {}),
      usage: { calls: r.usage.calls, cacheHits: r.usage.cacheHits, inputTokens: r.usage.inputTokens, outputTokens: r.usage.outputTokens, costUsd: r.usage.costUsd },
    };
    return RunRecord.parse(input);
  }

  /** Writes `run.json` into the run directory (`root`: the output folder it must stay inside). */
  async write(runDir: string, f: RecorderFinish, opts: { root?: string } = {}): Promise<string> {
    const path = join(runDir, RUN_RECORD_FILE);
    await writeFileAtomic(path, JSON.stringify(this.build(f)) + '\n', opts.root !== undefined ? { root: opts.root } : {});
    return path;
  }
}

export function predictorChanges(before: Module, after: Module): PredictorChange[] {
  const was = new Map(before.namedPredictors({ includeCompiled: true }));
  return after.namedPredictors({ includeCompiled: true }).map(([path, p]) => {
    const old = was.get(path);
    return {
      path,
      before: { instructions: old?.signature.instructions ?? '', demos: (old?.demos ?? []).map((d) => d.toDict()) },
      after: { instructions: p.signature.instructions, demos: p.demos.map((d) => d.toDict()) },
    };
  });
}
