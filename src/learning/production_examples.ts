// Executions that scored at least the threshold (8.0) become training examples, once per
// (pipeline, canonical input hash). The hashes already added live in an append+fsync JSONL
// file, so a restart does not add them again. A hash is recorded after the sink accepted the
// example, in groups of up to 256 per fsync: a crash can add those few examples twice (at
// least once, never lost).
import { hashJson } from '../util/canonical_json.js';
import { appendLineDurable, readJsonLines } from '../util/atomic_file.js';
import type { ExecutionRecord } from '../store/execution_record.js';

/** The training-data manager, as seen from here (src/pipeline/ provides it). */
export interface ExampleSink {
  addExample(pipeline: string, input: unknown, expectedOutput: unknown, metadata: Record<string, unknown>): Promise<unknown> | unknown;
}

export interface ExampleHarvestResult {
  considered: number;
  added: number;
  duplicates: number;
  belowThreshold: number;
  failed: number;
}

export class ProductionExamples {
  private seen = new Set<string>();
  /** time (ms) each pipeline's examples were added, for "new since last optimization" */
  private addedAt = new Map<string, number[]>();
  private constructor(
    private readonly path: string,
    private readonly sink: ExampleSink,
    readonly threshold: number,
  ) {}

  static async open(path: string, sink: ExampleSink, threshold = 8.0): Promise<ProductionExamples> {
    const pe = new ProductionExamples(path, sink, threshold);
    for (const row of (await readJsonLines(path)) as Array<{ key: string; pipeline: string; at: number }>) {
      pe.seen.add(row.key);
      pe.note(row.pipeline, row.at);
    }
    return pe;
  }

  private note(pipeline: string, at: number): void {
    let l = this.addedAt.get(pipeline);
    if (!l) this.addedAt.set(pipeline, (l = []));
    l.push(at);
  }

  static key(pipeline: string, input: unknown): string {
    return hashJson({ pipeline, input: input ?? null });
  }

  has(pipeline: string, input: unknown): boolean {
    return this.seen.has(ProductionExamples.key(pipeline, input));
  }

  /** Examples added for `pipeline` at or after `since` (ms). */
  countSince(pipeline: string, since: number): number {
    return (this.addedAt.get(pipeline) ?? []).filter((t) => t >= since).length;
  }

  /** Offers records to the sink; returns what happened. */
  async harvest(records: Iterable<ExecutionRecord> | AsyncIterable<ExecutionRecord>, now = Date.now()): Promise<ExampleHarvestResult> {
    const res: ExampleHarvestResult = { considered: 0, added: 0, duplicates: 0, belowThreshold: 0, failed: 0 };
    const pending: string[] = [];
    const persist = async () => {
      if (pending.length === 0) return;
      await appendLineDurable(this.path, pending.splice(0).join('\n'));
    };
    try {
      await this.harvestInto(records, now, res, pending, persist);
    } finally {
      await persist();
    }
    return res;
  }

  private async harvestInto(
    records: Iterable<ExecutionRecord> | AsyncIterable<ExecutionRecord>,
    now: number,
    res: ExampleHarvestResult,
    pending: string[],
    persist: () => Promise<void>,
  ): Promise<void> {
    for await (const r of records as AsyncIterable<ExecutionRecord>) {
      res.considered++;
      if (r.quality < this.threshold) {
        res.belowThreshold++;
        continue;
      }
      const key = ProductionExamples.key(r.pipeline, r.input);
      if (this.seen.has(key)) {
        res.duplicates++;
        continue;
      }
      try {
        await this.sink.addExample(r.pipeline, r.input ?? null, r.output ?? null, {
          source: 'production',
          execution_id: r.execution_id,
          quality: r.quality,
          time: r.time,
          duration_ms: r.duration_ms,
        });
      } catch {
        res.failed++;
        continue;
      }
      this.seen.add(key);
      this.note(r.pipeline, now);
      pending.push(JSON.stringify({ key, pipeline: r.pipeline, at: now }));
      res.added++;
      if (pending.length >= 256) await persist();
    }
  }
}
