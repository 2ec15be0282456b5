// The execution store: ExecutionRecords in a SegmentLog (segment_log.ts has the file format,
// fsync policy, recovery and retention rules). Records are validated with zod on the way in
// (by the ingester that builds them) and again on the way out (disk is a boundary).
import { SegmentLog, type SegmentLogOptions, type SegmentLogStats, type LogPosition, type ScanOptions } from './segment_log.js';
import { ExecutionRecordSchema, type ExecutionRecord } from './execution_record.js';

export type ExecutionStoreOptions = SegmentLogOptions;
export interface ExecutionStoreStats extends SegmentLogStats {
  /** records on disk that framed correctly but failed schema validation (skipped) */
  invalidOnRead: number;
}

export class ExecutionStore {
  private invalidOnRead = 0;
  private constructor(readonly log: SegmentLog) {}

  static async open(opts: ExecutionStoreOptions): Promise<ExecutionStore> {
    return new ExecutionStore(await SegmentLog.open({ timeOf: (r) => (r as ExecutionRecord).time, ...opts }));
  }

  /** Queues a record; false when shed or oversize (see stats()). Never blocks. */
  append(record: ExecutionRecord): boolean {
    return this.log.append(record);
  }

  /** Resolves once every record appended before the call is durable. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  /** Bytes in the ingest queue (queued or being written). */
  get pendingBytes(): number {
    return this.log.pendingBytes;
  }

  endPosition(): LogPosition {
    return this.log.endPosition();
  }

  async *scan(from?: LogPosition, opts?: ScanOptions): AsyncGenerator<{ record: ExecutionRecord; next: LogPosition }> {
    for await (const { payload, next } of this.log.scan(from, opts)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(payload);
      } catch {
        this.invalidOnRead++;
        continue;
      }
      const r = ExecutionRecordSchema.safeParse(parsed);
      if (!r.success) {
        this.invalidOnRead++;
        continue;
      }
      yield { record: r.data, next };
    }
  }

  /** Records in store order; with a time window, sealed segments outside it are skipped (the
   * caller still filters records: a segment's range is coarse). */
  async *records(from?: LogPosition, opts?: ScanOptions): AsyncGenerator<ExecutionRecord> {
    for await (const { record } of this.scan(from, opts)) yield record;
  }

  stats(): ExecutionStoreStats {
    return { ...this.log.stats(), invalidOnRead: this.invalidOnRead };
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
