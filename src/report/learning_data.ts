/**
 * The learning view's data, read without touching anything: the run ledger (every promotion,
 * rejection, skip and failure) and the execution store's segments, walked frame by frame
 * read-only (opening the store itself would recover its active segment, i.e. write to it while
 * the app's sidecar may hold it). Unreadable frames and records are skipped and counted.
 */
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { ExecutionRecordSchema } from '../store/execution_record.js';
import { iterFrames } from '../store/frame.js';
import { readJsonLines } from '../util/atomic_file.js';

const LedgerEntrySchema = z
  .object({
    id: z.string(),
    pipeline: z.string(),
    time: z.string(),
    mode: z.string(),
    trigger: z.string().optional(),
    decision: z.string(),
    reason: z.string(),
    interval: z.unknown().optional(),
    cost: z.object({ usd: z.number().optional(), calls: z.number().optional() }).passthrough().optional(),
    promptDiff: z.string().optional(),
  })
  .passthrough();
export type LedgerView = z.infer<typeof LedgerEntrySchema>;

export interface LearningData {
  dataDir: string;
  decisions: LedgerView[];
  executions: number;
  skipped: number;
  /** UTC days (YYYY-MM-DD) with executions, ascending. */
  days: string[];
  pipelines: string[];
  /** Per pipeline, the success rate in percent per day (null: no execution that day). */
  successRate: Record<string, Array<number | null>>;
}

/** Largest segment file read into memory at once (the store rotates at 16 MiB by default). */
const MAX_SEGMENT_BYTES = 256 * 1024 * 1024;
const MAX_RECORD_BYTES = 1024 * 1024;

async function readSegment(path: string): Promise<Buffer | undefined> {
  const fh = await open(path, 'r');
  try {
    const { size, isFile } = await fh.stat().then((s) => ({ size: s.size, isFile: s.isFile() }));
    if (!isFile || size > MAX_SEGMENT_BYTES) return undefined;
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

export async function readLearningData(learningDir: string): Promise<LearningData> {
  const decisions: LedgerView[] = [];
  let skipped = 0;
  for (const raw of await readJsonLines(join(learningDir, 'ledger.jsonl')).catch(() => [] as unknown[])) {
    const r = LedgerEntrySchema.safeParse(raw);
    if (r.success) decisions.push(r.data);
    else skipped += 1;
  }
  const counts = new Map<string, Map<string, { ok: number; all: number }>>();
  let executions = 0;
  const segDir = join(learningDir, 'executions');
  const names = (await readdir(segDir).catch(() => [] as string[])).filter((n) => /^\d{20}\.seg$/.test(n)).sort();
  for (const name of names) {
    const buf = await readSegment(join(segDir, name));
    if (!buf) {
      skipped += 1;
      continue;
    }
    for (const item of iterFrames(buf, MAX_RECORD_BYTES)) {
      if (item.kind !== 'frame') {
        skipped += 1;
        continue;
      }
      let rec;
      try {
        rec = ExecutionRecordSchema.safeParse(JSON.parse(buf.toString('utf8', item.payloadStart, item.end)));
      } catch {
        skipped += 1;
        continue;
      }
      if (!rec.success) {
        skipped += 1;
        continue;
      }
      executions += 1;
      const day = new Date(rec.data.time).toISOString().slice(0, 10);
      const byDay = counts.get(rec.data.pipeline) ?? new Map<string, { ok: number; all: number }>();
      const c = byDay.get(day) ?? { ok: 0, all: 0 };
      c.all += 1;
      if (rec.data.success) c.ok += 1;
      byDay.set(day, c);
      counts.set(rec.data.pipeline, byDay);
    }
  }
  const days = [...new Set([...counts.values()].flatMap((m) => [...m.keys()]))].sort();
  const pipelines = [...counts.keys()].sort();
  const successRate: Record<string, Array<number | null>> = {};
  for (const p of pipelines) {
    const m = counts.get(p) as Map<string, { ok: number; all: number }>;
    successRate[p] = days.map((d) => {
      const c = m.get(d);
      return c ? Math.round((10000 * c.ok) / c.all) / 100 : null;
    });
  }
  return { dataDir: learningDir, decisions, executions, skipped, days, pipelines, successRate };
}
