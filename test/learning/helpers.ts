import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionRecord } from '../../src/store/index.js';

export function tempDir(prefix = 'learning-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function record(i: number, over: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    v: 1,
    pipeline: 'p' + (i % 3),
    execution_id: 'e' + i,
    status: 'success',
    success: true,
    duration_ms: i,
    time: 1_700_000_000_000 + i,
    input: { i },
    output: { ok: true },
    quality: 7,
    steps: [],
    ...over,
  };
}

export function execEvent(o: {
  pipeline?: string;
  id?: string;
  status?: string;
  findings?: unknown[];
  duration?: number;
  time: number;
  input?: unknown;
}) {
  return {
    event: ['pipeline', 'execution', 'stop'],
    measurements: o.duration === undefined ? {} : { duration_ms: o.duration },
    metadata: {
      pipeline: o.pipeline ?? 'p',
      execution_id: o.id ?? null,
      input: o.input ?? { q: 'x' },
      result: { status: o.status ?? 'success', ...(o.findings ? { findings: o.findings } : {}) },
    },
    time: o.time,
  };
}
