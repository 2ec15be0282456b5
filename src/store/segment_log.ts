// An embedded, append-only log of JSON records in size-rotated segment files.
//
// Layout: DIR/<20-digit sequence>.seg; the highest sequence is the active segment, the others
// are sealed and never modified (only deleted by retention). Frames: see frame.ts.
//
// Ingest never blocks: append() serialises the record and encodes its frame (length, CRC,
// payload) straight into the current 1 MiB queue chunk, off the JS heap, so queued records are
// neither retained strings nor old-generation garbage. The queue is bounded by bytes and count
// (queued + being written); past either bound the record is shed and counted in stats();
// nothing waits. A single writer drains whole chunks with one writev per batch.
//
// fsync policy (group commit): the active segment is fsynced
//   - when a flush() is waiting (flush() resolves once every record appended before the call
//     is written and fsynced), and
//   - otherwise at most every `fsyncIntervalMs` (default 100 ms) while unsynced data exists,
//   - and before a segment is sealed by rotation (plus a directory fsync after creating one).
// So a process crash (kill -9) loses only what was still queued (never written); an OS crash or
// power loss can additionally lose up to fsyncIntervalMs of written-but-unsynced records, and
// never anything a resolved flush() covered.
//
// Recovery on open:
//   - active (last) segment: every frame is checked. A corrupt region with no valid frame after
//     it is a torn tail (the crash cut the last write): the file is truncated there and the cut
//     is reported in stats().recovery. A corrupt region followed by valid frames is reported,
//     kept on disk and skipped by readers (we never destroy data we cannot prove is garbage).
//   - sealed segments are not re-read on open (they were fsynced before sealing); a corrupt
//     region met while reading one is reported in stats().corrupt and skipped, never repaired
//     or dropped silently.
//
// Time index: with `timeOf`, the writer tracks the min/max record time of the active segment
// and, when sealing it, writes NNN.idx ({minTime, maxTime, count}, atomic). scan() with a time
// window skips sealed segments whose range lies outside it. A segment without an index (e.g.
// the one active at a crash) is always read.
//
// Retention (checked at open and after each rotation, sealed segments only, oldest first):
// a segment whose last write (mtime) is older than `retention.maxAgeMs`, and then the oldest
// segments while the total size exceeds `retention.maxTotalBytes`.
import { promises as fsp, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { FRAME_HEADER_BYTES, sealFrame, walkFrames, iterFrames } from './frame.js';
import { fsyncDir, writeJsonAtomic } from '../util/atomic_file.js';

export interface SegmentLogOptions {
  dir: string;
  /** rotate once the active segment reaches this size (soft: one write batch may pass it). 16 MiB */
  segmentMaxBytes?: number;
  /** group-commit interval. 100 ms */
  fsyncIntervalMs?: number;
  /** ingest queue bound in bytes (queued + in flight). 32 MiB */
  maxQueueBytes?: number;
  /** ingest queue bound in records. 200_000 */
  maxQueueRecords?: number;
  /** larger records are refused (counted as oversize). 1 MiB */
  maxRecordBytes?: number;
  /** largest single write (whole queue chunks, at least one). 4 MiB */
  maxWriteBytes?: number;
  retention?: { maxAgeMs?: number; maxTotalBytes?: number };
  /** wall clock for retention by age (group commit always uses the monotonic clock) */
  now?: () => number;
  /** a record's time, for the per-segment time index (see above) */
  timeOf?: (record: object) => number | undefined;
}

export interface SegmentIndex {
  minTime: number;
  maxTime: number;
  count: number;
}

export interface ScanOptions {
  /** skip sealed segments whose indexed records all lie outside [minTime, maxTime] */
  minTime?: number;
  maxTime?: number;
}

export interface LogPosition {
  segment: number;
  offset: number;
}

export interface CorruptRegion {
  segment: number;
  start: number;
  end: number;
}

export interface SegmentLogStats {
  appended: number;
  written: number;
  durable: number;
  shedRecords: number;
  shedBytes: number;
  oversizeRecords: number;
  queueRecords: number;
  queueBytes: number;
  writeErrors: number;
  lostOnWriteError: number;
  segments: number;
  totalBytes: number;
  deletedSegments: number;
  fsyncs: number;
  recovery: { truncatedBytes: number; truncatedSegment: number | null; corrupt: CorruptRegion[] };
  corrupt: CorruptRegion[];
}

/** A run of encoded frames waiting to be written. */
interface QueueChunk {
  buf: Buffer;
  used: number;
  count: number;
  minTime: number;
  maxTime: number;
  /** every record in it had a time */
  timed: boolean;
}
/** queue chunk size (smaller when maxWriteBytes is) */
const CHUNK_BYTES = 1024 * 1024;

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

const SEG_RE = /^(\d{20})\.seg$/;
const segName = (n: number) => `${String(n).padStart(20, '0')}.seg`;
const idxName = (n: number) => `${String(n).padStart(20, '0')}.idx`;
const MAX_REPORTED_CORRUPT = 1000;

export class SegmentLog {
  readonly dir: string;
  private readonly segmentMaxBytes: number;
  private readonly fsyncIntervalMs: number;
  private readonly maxQueueBytes: number;
  private readonly maxQueueRecords: number;
  private readonly maxRecordBytes: number;
  private readonly maxWriteBytes: number;
  private readonly retention: { maxAgeMs?: number; maxTotalBytes?: number };
  private readonly now: () => number;
  private readonly timeOf: ((record: object) => number | undefined) | undefined;

  private fh!: fsp.FileHandle;
  private indexes = new Map<number, SegmentIndex>();
  /** min/max/count of the active segment's written records; null when unknown (recovered) */
  private activeIndex: SegmentIndex | null = null;

  private activeSeq = 0;
  private activeSize = 0;
  private sealedSizes = new Map<number, number>();

  private chunks: QueueChunk[] = [];
  private queueBytes = 0; // queued + in flight
  private queueRecords = 0; // queued + in flight

  private appendSeq = 0;
  private writtenSeq = 0;
  private durableSeq = 0;
  private lastSyncAt = 0;
  private waiters: Waiter[] = [];
  /** Records lost to a write error that no flush() has reported yet, and the last one's seq. */
  private unreportedLoss = 0;
  private lossSeq = 0;
  private pumping = false;
  private pumpRun: Promise<void> = Promise.resolve();
  private pumpScheduled = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private s = {
    shedRecords: 0,
    shedBytes: 0,
    oversizeRecords: 0,
    writeErrors: 0,
    lostOnWriteError: 0,
    deletedSegments: 0,
    fsyncs: 0,
  };
  private recovery: SegmentLogStats['recovery'] = { truncatedBytes: 0, truncatedSegment: null, corrupt: [] };
  private corrupt: CorruptRegion[] = [];
  private corruptSeen = new Set<string>();
  lastError: Error | null = null;

  private constructor(opts: SegmentLogOptions) {
    this.dir = opts.dir;
    this.segmentMaxBytes = opts.segmentMaxBytes ?? 16 * 1024 * 1024;
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? 100;
    this.maxQueueBytes = opts.maxQueueBytes ?? 32 * 1024 * 1024;
    this.maxQueueRecords = opts.maxQueueRecords ?? 200_000;
    this.maxRecordBytes = opts.maxRecordBytes ?? 1024 * 1024;
    this.maxWriteBytes = opts.maxWriteBytes ?? 4 * 1024 * 1024;
    this.retention = opts.retention ?? {};
    this.now = opts.now ?? Date.now;
    this.timeOf = opts.timeOf;
  }

  static async open(opts: SegmentLogOptions): Promise<SegmentLog> {
    const log = new SegmentLog(opts);
    await log.init();
    log.lastSyncAt = performance.now();
    return log;
  }

  private async listSegments(): Promise<number[]> {
    const names = await fsp.readdir(this.dir);
    return names
      .map((n) => SEG_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    const segs = await this.listSegments();
    for (const seq of segs.slice(0, -1)) {
      this.sealedSizes.set(seq, (await fsp.stat(join(this.dir, segName(seq)))).size);
      const idx = await fsp.readFile(join(this.dir, idxName(seq)), 'utf8').catch(() => null);
      if (idx !== null) {
        try {
          const v = JSON.parse(idx) as SegmentIndex;
          if (typeof v.minTime === 'number' && typeof v.maxTime === 'number') this.indexes.set(seq, v);
        } catch {
          /* an unreadable index only costs a full read of that segment */
        }
      }
    }
    const last = segs[segs.length - 1];
    if (last === undefined) {
      await this.openNewSegment(1);
    } else {
      await this.recoverActive(last);
    }
    await this.applyRetention();
  }

  private async recoverActive(seq: number): Promise<void> {
    const path = join(this.dir, segName(seq));
    const buf = await fsp.readFile(path);
    let cut = -1;
    walkFrames(buf, this.maxRecordBytes, {
      frame: () => {},
      corrupt: (start, end, atTail) => {
        if (atTail) cut = start;
        else this.recovery.corrupt.push({ segment: seq, start, end });
      },
    });
    this.fh = await fsp.open(path, fsc.O_RDWR | fsc.O_APPEND);
    if (cut >= 0) {
      await this.fh.truncate(cut);
      await this.fh.sync();
      this.recovery.truncatedBytes = buf.length - cut;
      this.recovery.truncatedSegment = seq;
    }
    this.activeSeq = seq;
    this.activeSize = cut >= 0 ? cut : buf.length;
    this.activeIndex = this.activeSize === 0 ? { minTime: Infinity, maxTime: -Infinity, count: 0 } : null;
  }

  private async createSegment(seq: number): Promise<fsp.FileHandle> {
    const fh = await fsp.open(join(this.dir, segName(seq)), fsc.O_RDWR | fsc.O_APPEND | fsc.O_CREAT | fsc.O_EXCL);
    await fsyncDir(this.dir);
    return fh;
  }

  private async openNewSegment(seq: number): Promise<void> {
    this.fh = await this.createSegment(seq);
    this.activeSeq = seq;
    this.activeSize = 0;
    this.activeIndex = { minTime: Infinity, maxTime: -Infinity, count: 0 };
  }

  /**
   * Queues one record. Returns false when it was shed (queue full) or refused (oversize);
   * never blocks and never throws for those.
   */
  append(record: object): boolean {
    const payload = JSON.stringify(record);
    return this.appendJson(payload, this.timeOf?.(record));
  }

  /** Like append, for a payload that is already a JSON object's text. */
  appendJson(payload: string, time?: number): boolean {
    if (this.closed) throw new Error('SegmentLog is closed');
    const len = Buffer.byteLength(payload);
    if (len > this.maxRecordBytes || len === 0) {
      this.s.oversizeRecords++;
      return false;
    }
    const cost = len + FRAME_HEADER_BYTES;
    if (this.queueRecords >= this.maxQueueRecords || this.queueBytes + cost > this.maxQueueBytes) {
      this.s.shedRecords++;
      this.s.shedBytes += len;
      return false;
    }
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.buf.length - chunk.used < cost) {
      chunk = { buf: Buffer.allocUnsafeSlow(Math.max(Math.min(CHUNK_BYTES, this.maxWriteBytes), cost)), used: 0, count: 0, minTime: Infinity, maxTime: -Infinity, timed: true };
      this.chunks.push(chunk);
    }
    chunk.buf.write(payload, chunk.used + FRAME_HEADER_BYTES, len, 'utf8');
    sealFrame(chunk.buf, chunk.used, len);
    chunk.used += cost;
    chunk.count++;
    if (time === undefined || Number.isNaN(time)) chunk.timed = false;
    else {
      if (time < chunk.minTime) chunk.minTime = time;
      if (time > chunk.maxTime) chunk.maxTime = time;
    }
    this.queueBytes += cost;
    this.queueRecords++;
    this.appendSeq++;
    if (!this.pumping && !this.pumpScheduled) {
      this.pumpScheduled = true;
      queueMicrotask(() => {
        this.pumpScheduled = false;
        void this.pump();
      });
    }
    return true;
  }

  /** Resolves once every record accepted before this call is written and fsynced. */
  flush(): Promise<void> {
    const target = this.appendSeq;
    // A record lost to a write error is never "written and fsynced": the first flush covering
    // it says so (a later sync would otherwise move durableSeq past it and acknowledge it).
    if (this.unreportedLoss > 0 && target >= this.lossSeq) {
      const n = this.unreportedLoss;
      this.unreportedLoss = 0;
      return Promise.reject(new Error(`execution store write failed: ${n} records lost (${this.lastError?.message ?? 'write error'})`));
    }
    if (this.durableSeq >= target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      void this.pump();
    });
  }

  private pump(): Promise<void> {
    if (this.pumping) return this.pumpRun;
    this.pumping = true;
    this.pumpRun = this.pumpLoop();
    return this.pumpRun;
  }

  private async pumpLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.chunks.length > 0) {
          await this.writeBatch();
          if (this.activeSize >= this.segmentMaxBytes) await this.rotate();
          else if (this.syncDue()) await this.sync();
          continue;
        }
        if (this.writtenSeq > this.durableSeq && this.syncDue()) {
          await this.sync();
          continue;
        }
        break;
      }
    } catch (err) {
      // e.g. rotation could not create the next segment (disk full): keep appending to the
      // active one (rotation is retried after the next write); waiting flushes learn of it
      this.s.writeErrors++;
      this.lastError = err as Error;
      this.failWaiters(err as Error);
    } finally {
      this.pumping = false;
    }
    if (this.chunks.length > 0) {
      void this.pump();
      return;
    }
    if (this.writtenSeq > this.durableSeq && !this.syncTimer && !this.closed) {
      const wait = Math.max(1, this.fsyncIntervalMs - (performance.now() - this.lastSyncAt));
      this.syncTimer = setTimeout(() => {
        this.syncTimer = null;
        void this.pump();
      }, wait);
      this.syncTimer.unref();
    }
  }

  private syncDue(): boolean {
    if (this.waiters.some((w) => w.target <= this.writtenSeq)) return true;
    return performance.now() - this.lastSyncAt >= this.fsyncIntervalMs;
  }

  private async writeBatch(): Promise<void> {
    // take whole chunks (the last one too: later appends start a new chunk)
    let n = 0;
    let bytes = 0;
    while (n < this.chunks.length && (n === 0 || bytes + this.chunks[n]!.used <= this.maxWriteBytes)) bytes += this.chunks[n++]!.used;
    const taken = this.chunks.splice(0, n);
    const bufs = taken.map((c) => c.buf.subarray(0, c.used));
    let count = 0;
    let minT = Infinity;
    let maxT = -Infinity;
    let timed = true;
    for (const c of taken) {
      count += c.count;
      timed &&= c.timed;
      if (c.minTime < minT) minT = c.minTime;
      if (c.maxTime > maxT) maxT = c.maxTime;
    }
    const before = this.activeSize;
    try {
      let done = 0;
      while (done < bytes) {
        const rest = done === 0 ? bufs : sliceFrom(bufs, done);
        const { bytesWritten } = await this.fh.writev(rest);
        done += bytesWritten;
      }
      this.activeSize += bytes;
      const ix = this.activeIndex;
      if (ix && timed) {
        ix.minTime = Math.min(ix.minTime, minT);
        ix.maxTime = Math.max(ix.maxTime, maxT);
        ix.count += count;
      } else this.activeIndex = null;
    } catch (err) {
      this.s.writeErrors++;
      this.s.lostOnWriteError += count;
      this.unreportedLoss += count;
      this.lossSeq = this.writtenSeq + count; // writtenSeq moves past the lost batch below
      this.lastError = err as Error;
      // Before the truncate's await: a flush that arrives meanwhile is told of this loss by
      // flush() itself, and must not be failed again once it waits for later records.
      this.failWaiters(err as Error);
      // never leave a half-written frame in the middle of the segment
      await this.fh.truncate(before).catch(() => {});
    } finally {
      this.writtenSeq += count;
      this.queueBytes -= bytes;
      this.queueRecords -= count;
    }
  }

  private failWaiters(err: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(new Error(`execution store write failed: ${err.message}`));
  }

  private async sync(): Promise<void> {
    const upTo = this.writtenSeq;
    try {
      await this.fh.sync();
      this.s.fsyncs++;
    } catch (err) {
      this.s.writeErrors++;
      this.lastError = err as Error;
      this.failWaiters(err as Error);
      return;
    } finally {
      this.lastSyncAt = performance.now();
    }
    this.durableSeq = upTo;
    if (this.syncTimer) {
      clearTimeout(this.syncTimer);
      this.syncTimer = null;
    }
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.target <= upTo) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  private async rotate(): Promise<void> {
    await this.sync();
    const next = await this.createSegment(this.activeSeq + 1);
    // switch in one synchronous step so a concurrent scan never sees a half-rotated state
    const old = this.fh;
    const sealedSeq = this.activeSeq;
    const sealedIndex = this.timeOf && this.activeIndex && this.activeIndex.count > 0 ? this.activeIndex : null;
    this.sealedSizes.set(this.activeSeq, this.activeSize);
    this.fh = next;
    this.activeSeq += 1;
    this.activeSize = 0;
    this.activeIndex = { minTime: Infinity, maxTime: -Infinity, count: 0 };
    await old.close();
    if (sealedIndex) {
      await writeJsonAtomic(join(this.dir, idxName(sealedSeq)), sealedIndex);
      this.indexes.set(sealedSeq, sealedIndex);
    }
    await this.applyRetention();
  }

  private async applyRetention(): Promise<void> {
    const { maxAgeMs, maxTotalBytes } = this.retention;
    if (maxAgeMs === undefined && maxTotalBytes === undefined) return;
    const sealed = [...this.sealedSizes.keys()].sort((a, b) => a - b);
    let total = this.activeSize + [...this.sealedSizes.values()].reduce((a, b) => a + b, 0);
    for (const seq of sealed) {
      let drop = false;
      if (maxTotalBytes !== undefined && total > maxTotalBytes) drop = true;
      else if (maxAgeMs !== undefined) {
        const st = await fsp.stat(join(this.dir, segName(seq))).catch(() => null);
        drop = st === null || st.mtimeMs < this.now() - maxAgeMs;
      }
      if (!drop) break; // oldest first: stop at the first segment we keep
      await fsp.rm(join(this.dir, segName(seq)), { force: true });
      await fsp.rm(join(this.dir, idxName(seq)), { force: true });
      total -= this.sealedSizes.get(seq)!;
      this.sealedSizes.delete(seq);
      this.indexes.delete(seq);
      this.s.deletedSegments++;
    }
  }

  /** Runs retention now (it also runs after each rotation). */
  async enforceRetention(): Promise<void> {
    await this.applyRetention();
  }

  /** Bytes queued or being written (cheap; stats() builds a whole object). */
  get pendingBytes(): number {
    return this.queueBytes;
  }

  /** The position just past the last written record (a cursor for "what is new since"). */
  endPosition(): LogPosition {
    return { segment: this.activeSeq, offset: this.activeSize };
  }

  /**
   * Reads every record written so far (not the queue), oldest first, from `from` on. Each
   * segment is read whole (memory is bounded by segmentMaxBytes). Corrupt regions are
   * reported in stats().corrupt and skipped.
   */
  async *scan(from?: LogPosition, opts: ScanOptions = {}): AsyncGenerator<{ payload: string; next: LogPosition }> {
    const segs = [...new Set([...this.sealedSizes.keys(), this.activeSeq])].sort((a, b) => a - b);
    const lo = opts.minTime ?? -Infinity;
    const hi = opts.maxTime ?? Infinity;
    for (const seq of segs) {
      if (from && seq < from.segment) continue;
      const isActive = seq === this.activeSeq;
      const ix = isActive ? undefined : this.indexes.get(seq);
      if (ix && (ix.maxTime < lo || ix.minTime > hi)) continue;
      const limit = isActive ? this.activeSize : undefined;
      let buf: Buffer;
      try {
        buf = await readPrefix(join(this.dir, segName(seq)), limit);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed by retention
        throw err;
      }
      const startOff = from && seq === from.segment ? from.offset : 0;
      const body = startOff > 0 ? buf.subarray(startOff) : buf;
      for (const it of iterFrames(body, this.maxRecordBytes)) {
        if (it.kind === 'frame') yield { payload: body.toString('utf8', it.payloadStart, it.end), next: { segment: seq, offset: startOff + it.end } };
        else this.reportCorrupt({ segment: seq, start: startOff + it.start, end: startOff + it.end });
      }
    }
  }

  /** Time ranges of the sealed segments that have an index (for tests and tooling). */
  segmentIndexes(): Record<number, SegmentIndex> {
    return Object.fromEntries(this.indexes);
  }

  private reportCorrupt(r: CorruptRegion): void {
    const key = `${r.segment}:${r.start}`;
    if (this.corruptSeen.has(key) || this.corrupt.length >= MAX_REPORTED_CORRUPT) return;
    this.corruptSeen.add(key);
    this.corrupt.push(r);
  }

  stats(): SegmentLogStats {
    return {
      appended: this.appendSeq,
      written: this.writtenSeq,
      // sequence numbers count lost records too; they were never stored
      durable: Math.max(0, this.durableSeq - this.s.lostOnWriteError),
      ...this.s,
      queueRecords: this.queueRecords,
      queueBytes: this.queueBytes,
      segments: this.sealedSizes.size + 1,
      totalBytes: this.activeSize + [...this.sealedSizes.values()].reduce((a, b) => a + b, 0),
      recovery: { ...this.recovery, corrupt: [...this.recovery.corrupt] },
      corrupt: [...this.corrupt],
    };
  }

  /** Flushes, then closes the active segment. Appends after close throw. */
  async close(): Promise<void> {
    if (this.closed) return;
    // A write error (already counted and reported) must not keep the segment open.
    await this.flush().catch(() => {});
    this.closed = true;
    while (this.pumping) await this.pumpRun; // e.g. a rotation still opening the next segment
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    await this.fh.close();
  }
}

/** The buffers of `bufs` from byte `skip` on (after a short writev). */
function sliceFrom(bufs: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

async function readPrefix(path: string, limit: number | undefined): Promise<Buffer> {
  if (limit === undefined) return fsp.readFile(path);
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(limit);
    let done = 0;
    while (done < limit) {
      const { bytesRead } = await fh.read(buf, done, limit - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } finally {
    await fh.close();
  }
}
