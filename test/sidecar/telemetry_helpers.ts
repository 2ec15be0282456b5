import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeElixir } from '../support/fake_elixir.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export const T0 = Date.parse('2026-01-01T00:00:00Z');
export const ALL = { since: '2025-01-01T00:00:00Z', until: '2030-01-01T00:00:00Z' };

export function tempDataDir(prefix = 'elexirion-learning-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A `[:pipeline, :execution, :stop]` event as the Elixir forwarder sends it. */
export function executionEvent(i: number, opts: { pipelines?: number; failEvery?: number } = {}): Json {
  const pipelines = opts.pipelines ?? 3;
  const failEvery = opts.failEvery ?? 7;
  const ok = i % failEvery !== 0;
  return {
    event: ['pipeline', 'execution', 'stop'],
    measurements: { duration_ms: 100 + (i % 50) },
    metadata: {
      pipeline: `p${i % pipelines}`,
      execution_id: `exec-${i}`,
      input: { n: i },
      result: { status: ok ? 'success' : 'error' },
    },
    time: T0 + i,
  };
}

export function batch(from: number, count: number, opts?: Parameters<typeof executionEvent>[1]): Json {
  const events = [];
  for (let i = from; i < from + count; i++) events.push(executionEvent(i, opts));
  return { jsonrpc: '2.0', method: 'telemetry/events', params: { events, dropped: 0 } };
}

export function sidecar(dataDir: string): FakeElixir {
  return new FakeElixir({ ELEXIRION_DATA_DIR: dataDir });
}

export async function initialize(e: FakeElixir, options?: Json): Promise<Json> {
  const r = await e.request('initialize', { protocolVersion: '1.0', clientInfo: { name: 'test' }, ...(options ? { options } : {}) });
  if (!r.result) throw new Error(`initialize failed: ${JSON.stringify(r.error)}`);
  return r.result;
}
