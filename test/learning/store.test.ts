import { describe, it, expect, afterEach, vi } from 'vitest';
import { promises as fsp, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { RunLedger } from '../../src/learning/index.js';
import { ExecutionStore, SegmentLog, encodeFrame } from '../../src/store/index.js';
import { appendLineDurable, readJsonLines } from '../../src/util/atomic_file.js';
import { tempDir, record } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function dir(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}
async function all(store: ExecutionStore) {
  const out = [];
  for await (const r of store.records()) out.push(r);
  return out;
}
const segFiles = (d: string) => readdirSync(d).filter((n) => n.endsWith('.seg')).sort();

describe('frame checksum', () => {
  it('is the standard CRC-32 of the payload alone (check value 0xCBF43926)', () => {
    const f = encodeFrame('123456789');
    expect(f.readUInt32LE(0)).toBe(9);
    expect(f.readUInt32LE(4)).toBe(0xcbf43926);
  });
});

describe('ExecutionStore', () => {
  it('appends, flushes and reads back in order after reopening', async () => {
    const d = dir();
    const s = await ExecutionStore.open({ dir: d });
    for (let i = 0; i < 500; i++) expect(s.append(record(i))).toBe(true);
    await s.flush();
    expect(s.stats().durable).toBe(500);
    await s.close();
    const s2 = await ExecutionStore.open({ dir: d });
    const rs = await all(s2);
    expect(rs.map((r) => r.execution_id)).toEqual(Array.from({ length: 500 }, (_, i) => 'e' + i));
    expect(s2.stats().recovery.truncatedBytes).toBe(0);
    await s2.close();
  });

  it('flush() resolves only after an fsync covering everything appended before it', async () => {
    const s = await ExecutionStore.open({ dir: dir(), fsyncIntervalMs: 60_000 });
    s.append(record(1));
    // written (page cache) but, with a 60 s interval, not yet fsynced
    await vi.waitFor(() => expect(s.stats().written).toBe(1), { timeout: 10_000 });
    expect(s.stats().durable).toBe(0);
    const before = s.stats().fsyncs;
    s.append(record(2));
    await s.flush();
    expect(s.stats().durable).toBe(2);
    expect(s.stats().fsyncs).toBeGreaterThan(before);
    await s.close();
  });

  it('group commit: without a flush, written records become durable within the fsync interval', async () => {
    const s = await ExecutionStore.open({ dir: dir(), fsyncIntervalMs: 30 });
    for (let i = 0; i < 10; i++) s.append(record(i));
    const t0 = Date.now();
    while (s.stats().durable < 10 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
    expect(s.stats().durable).toBe(10);
    expect(s.stats().fsyncs).toBeLessThanOrEqual(2);
    await s.close();
  });

  it('recovery truncates a torn last record and keeps everything before it', async () => {
    const d = dir();
    const s = await ExecutionStore.open({ dir: d });
    for (let i = 0; i < 10; i++) s.append(record(i));
    await s.close();
    const [seg] = segFiles(d);
    const path = join(d, seg!);
    const size = statSync(path).size;
    // a torn append: half a frame at the tail
    const frame = encodeFrame(JSON.stringify(record(10)));
    await fsp.appendFile(path, frame.subarray(0, frame.length - 5));
    const s2 = await ExecutionStore.open({ dir: d });
    expect(s2.stats().recovery).toMatchObject({ truncatedBytes: frame.length - 5, corrupt: [] });
    expect(statSync(path).size).toBe(size);
    expect((await all(s2)).length).toBe(10);
    // and appends continue cleanly after the cut
    s2.append(record(11));
    await s2.close();
    const s3 = await ExecutionStore.open({ dir: d });
    expect((await all(s3)).map((r) => r.execution_id).slice(-2)).toEqual(['e9', 'e11']);
    expect(s3.stats().recovery.truncatedBytes).toBe(0);
    await s3.close();
  });

  it('recovery truncates garbage at the tail, and a tail of zeros', async () => {
    const d = dir();
    const s = await ExecutionStore.open({ dir: d });
    for (let i = 0; i < 5; i++) s.append(record(i));
    await s.close();
    const path = join(d, segFiles(d)[0]!);
    await fsp.appendFile(path, Buffer.concat([Buffer.from('{"garbage'), Buffer.alloc(4096)]));
    const s2 = await ExecutionStore.open({ dir: d });
    expect(s2.stats().recovery.truncatedBytes).toBe(9 + 4096);
    expect((await all(s2)).length).toBe(5);
    await s2.close();
  });

  it('a corrupt record in the middle is reported and skipped, never truncated away', async () => {
    const d = dir();
    const s = await ExecutionStore.open({ dir: d });
    for (let i = 0; i < 5; i++) s.append(record(i));
    await s.close();
    const path = join(d, segFiles(d)[0]!);
    const buf = await fsp.readFile(path);
    const frameLen = buf.readUInt32LE(0) + 8;
    buf[frameLen + 20] = buf[frameLen + 20]! ^ 0xff; // flip a byte inside the 2nd record
    await fsp.writeFile(path, buf);
    const s2 = await ExecutionStore.open({ dir: d });
    const st = s2.stats();
    expect(st.recovery.truncatedBytes).toBe(0);
    expect(st.recovery.corrupt).toEqual([{ segment: 1, start: frameLen, end: frameLen + buf.readUInt32LE(frameLen) + 8 }]);
    expect(statSync(path).size).toBe(buf.length);
    expect((await all(s2)).map((r) => r.execution_id)).toEqual(['e0', 'e2', 'e3', 'e4']);
    expect(s2.stats().corrupt.length).toBe(1);
    await s2.close();
  });

  it('rotates by size and applies retention by total size and by age', async () => {
    const d = dir();
    const s = await ExecutionStore.open({ dir: d, segmentMaxBytes: 4096, maxWriteBytes: 1024 });
    for (let i = 0; i < 200; i++) {
      s.append(record(i));
      if (i % 20 === 0) await s.flush();
    }
    await s.close();
    const segs = segFiles(d);
    expect(segs.length).toBeGreaterThan(3);
    for (const f of segs.slice(0, -1)) expect(statSync(join(d, f)).size).toBeLessThan(4096 + 1024);
    // reopen with a total-size cap: oldest sealed segments go, newest records stay
    const cap = 3 * 4096;
    const s2 = await ExecutionStore.open({ dir: d, segmentMaxBytes: 4096, retention: { maxTotalBytes: cap } });
    expect(s2.stats().totalBytes).toBeLessThanOrEqual(cap + 1024);
    expect(s2.stats().deletedSegments).toBeGreaterThan(0);
    const left = await all(s2);
    expect(left.at(-1)!.execution_id).toBe('e199');
    expect(Number(left[0]!.execution_id!.slice(1))).toBeGreaterThan(0);
    await s2.close();
    // age: make every sealed segment old
    const old = Date.now() / 1000 - 3 * 86400;
    for (const f of segFiles(d).slice(0, -1)) utimesSync(join(d, f), old, old);
    const s3 = await ExecutionStore.open({ dir: d, retention: { maxAgeMs: 86_400_000 } });
    expect(s3.stats().segments).toBe(1);
    await s3.close();
  });

  it('indexes sealed segments by record time and skips those outside a scan window', async () => {
    const d = dir();
    const s = await ExecutionStore.open({ dir: d, segmentMaxBytes: 4096, maxWriteBytes: 1024 });
    for (let i = 0; i < 300; i++) {
      s.append(record(i, { time: 1000 * i }));
      if (i % 10 === 9) await s.flush();
    }
    await s.close();
    const s2 = await ExecutionStore.open({ dir: d, segmentMaxBytes: 4096 });
    const idx = Object.values(s2.log.segmentIndexes());
    expect(idx.length).toBe(s2.stats().segments - 1);
    expect(idx.reduce((a, x) => a + x.count, 0)).toBeGreaterThan(250); // the active segment has no index
    let read = 0;
    const inWindow: number[] = [];
    for await (const r of s2.records(undefined, { minTime: 100_000, maxTime: 120_000 })) {
      read++;
      if (r.time >= 100_000 && r.time <= 120_000) inWindow.push(r.time / 1000);
    }
    expect(inWindow).toEqual(Array.from({ length: 21 }, (_, i) => 100 + i));
    expect(read).toBeLessThan(150); // most segments were never read
    await s2.close();
  });

  it('sheds past the queue bound without blocking, and counts it', async () => {
    const log = await SegmentLog.open({ dir: dir(), maxQueueRecords: 100, maxQueueBytes: 1 << 20 });
    let accepted = 0;
    // all in one synchronous burst: the writer cannot drain in between
    for (let i = 0; i < 1000; i++) if (log.append(record(i))) accepted++;
    expect(accepted).toBe(100);
    expect(log.stats()).toMatchObject({ shedRecords: 900, appended: 100 });
    await log.flush();
    expect(log.stats()).toMatchObject({ durable: 100, queueRecords: 0, queueBytes: 0 });
    // the byte bound too
    const big = { ...record(0), output: 'x'.repeat(10_000) };
    let ok = 0;
    for (let i = 0; i < 200; i++) if (log.append(big)) ok++;
    expect(ok).toBeLessThan(105);
    expect(ok).toBeGreaterThan(90);
    expect(log.stats().shedBytes).toBeGreaterThan(90 * 10_000);
    // and oversize records are refused
    const small = await SegmentLog.open({ dir: dir(), maxRecordBytes: 100 });
    expect(small.append(big)).toBe(false);
    expect(small.stats().oversizeRecords).toBe(1);
    await small.close();
    await log.close();
  });
});

describe('SegmentLog write errors', () => {
  it('never acknowledges records lost to a write error, and does not count them as durable', async () => {
    const d = dir();
    const log = await SegmentLog.open({ dir: d, fsyncIntervalMs: 60_000 });
    const fh = (log as unknown as { fh: { writev: (...a: unknown[]) => Promise<unknown> } }).fh;
    const real = fh.writev.bind(fh);
    // Every write fails until all three records are lost, however the pump batches them
    // (one batch or several, depending on the machine's load).
    let failing = true;
    fh.writev = (...a: unknown[]) =>
      failing ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })) : real(...a);
    for (let i = 0; i < 3; i++) log.append(record(i));
    while (log.stats().lostOnWriteError < 3) await new Promise((r) => setTimeout(r, 5));
    failing = false;
    // a flush that arrives after the failure covers the lost records: it must not succeed
    await expect(log.flush()).rejects.toThrow(/records lost/);
    for (let i = 3; i < 5; i++) log.append(record(i));
    await log.flush(); // the loss was reported once; later records are acknowledged normally
    expect(log.stats()).toMatchObject({ durable: 2, lostOnWriteError: 3 });
    await log.close();
    const s2 = await ExecutionStore.open({ dir: d });
    expect((await all(s2)).map((r) => r.execution_id)).toEqual(['e3', 'e4']);
    await s2.close();
  });
});

describe('RunLedger (append + fsync JSONL)', () => {
  it('a line torn by a crash mid-append does not make the ledger unreadable after the next append', async () => {
    const d = dir();
    const path = join(d, 'ledger.jsonl');
    const entry = (id: string) => ({ id, pipeline: 'p', time: 't', mode: 'light' as const, trigger: 'request', decision: 'skipped' as const, reason: 'r' });
    // a previous process appended one entry, then died in the middle of the second
    await fsp.writeFile(path, JSON.stringify(entry('a')) + '\n' + JSON.stringify(entry('b')).slice(0, 17));
    expect((await readJsonLines(path)).map((e) => (e as { id: string }).id)).toEqual(['a']);
    const ledger = new RunLedger(path);
    await ledger.append(entry('c'));
    await ledger.append(entry('d'));
    expect((await ledger.entries()).map((e) => e.id)).toEqual(['a', 'c', 'd']);
  });

  it('a file holding only a torn line is cut to nothing before the next append', async () => {
    const path = join(dir(), 'sub', 'examples-added.jsonl');
    await fsp.mkdir(join(path, '..'), { recursive: true });
    await fsp.writeFile(path, '{"key":"x","pipel');
    await appendLineDurable(path, '{"key":"y"}');
    expect(await fsp.readFile(path, 'utf8')).toBe('{"key":"y"}\n');
  });
});
