// kill -9 during ingestion: every event acknowledged by flush() survives, the store reopens.
// The child runs the COMPILED library (dist/): rebuilt here when src/ is newer (test/support/build.ts).
import { describe, it, expect, afterEach, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecutionStore } from '../../src/store/index.js';
import { tempDir } from './helpers.js';
import { ensureBuilt } from '../support/build.js';

const here = dirname(fileURLToPath(import.meta.url));
const distIndex = join(here, '..', '..', 'dist', 'learning', 'index.js');
const cleanups: Array<() => void> = [];
beforeAll(() => ensureBuilt(), 180_000);
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

async function crashOnce(dataDir: string, runTag: string, acksBeforeKill: number): Promise<number> {
  const child = spawn(process.execPath, [join(here, 'fixtures', 'crash_child.mjs'), distIndex, dataDir, runTag], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let lastAck = -1;
  let acks = 0;
  let shed = 0;
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child made no progress (acks=${acks}); stderr: ${stderr}`));
    }, 20_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited early (${code}): ${stderr}`));
    });
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('ack ')) {
          lastAck = Number(line.slice(4));
          if (++acks === acksBeforeKill) child.kill('SIGKILL'); // mid-ingestion: the child never pauses
        } else if (line.startsWith('shed ')) shed += Number(line.slice(5));
      }
    });
  });
  expect(shed).toBe(0);
  return lastAck;
}

describe('crash safety', () => {
  it('no acknowledged event is lost to kill -9, and the store reopens cleanly (twice)', async () => {
    const t = tempDir('crash-');
    cleanups.push(t.cleanup);
    const acked: Record<string, number> = {};
    for (const [run, n] of [['a', 8], ['b', 12]] as const) {
      acked[run] = await crashOnce(t.dir, run, n);
      expect(acked[run]).toBeGreaterThan(0);
      const store = await ExecutionStore.open({ dir: join(t.dir, 'executions'), segmentMaxBytes: 256 * 1024 });
      const seen = new Set<string>();
      for await (const r of store.records()) {
        expect(seen.has(r.execution_id!)).toBe(false); // nothing duplicated
        seen.add(r.execution_id!);
      }
      const st = store.stats();
      expect(st.corrupt).toEqual([]);
      expect(st.recovery.corrupt).toEqual([]);
      expect(st.invalidOnRead).toBe(0);
      await store.close();
      for (const [tag, last] of Object.entries(acked))
        for (let i = 0; i <= last; i++)
          if (!seen.has(`${tag}-${i}`)) throw new Error(`acknowledged event ${tag}-${i} lost (acked up to ${last})`);
    }
  });
});
