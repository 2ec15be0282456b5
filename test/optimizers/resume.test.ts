/**
 * Kill -9 a real optimization process mid-run, resume it, and compare with a run that was
 * never interrupted. Runs the compiled code (dist/): rebuilt first when src/ is newer (test/support/build.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/build.js';

const here = dirname(fileURLToPath(import.meta.url));
const child = join(here, 'fixtures', 'resume_child.mjs');

function start(runDir: string, out: string): { proc: ChildProcess; done: Promise<{ code: number | null; signal: string | null; stderr: string }> } {
  const proc = spawn(process.execPath, [child, runDir, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d) => (stderr += String(d)));
  const done = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { proc, done };
}

function journalLines(runDir: string): string[] {
  const p = join(runDir, 'journal.jsonl');
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
}

beforeAll(() => ensureBuilt(), 180_000);

describe('checkpoint and resume', () => {
  it('a run killed with SIGKILL mid-search resumes to the same program as an uninterrupted run', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'resume-'));
    const whole = start(join(tmp, 'whole'), join(tmp, 'whole.json'));
    const killed = start(join(tmp, 'run'), join(tmp, 'killed.json'));
    // Kill once the search has journaled a few trials (bootstrap, demos and proposals are done).
    const killedAt = await new Promise<number>((resolve, reject) => {
      const timer = setInterval(() => {
        const lines = journalLines(join(tmp, 'run'));
        if (lines.some((l) => l.includes('"key":"trial/3"'))) {
          clearInterval(timer);
          killed.proc.kill('SIGKILL');
          resolve(lines.length);
        }
      }, 2);
      void killed.done.then((r) => {
        clearInterval(timer);
        if (r.signal !== 'SIGKILL') reject(new Error(`the run ended before it could be killed (exit ${r.code}): ${r.stderr}`));
      });
    });
    const k = await killed.done;
    expect(k.signal).toBe('SIGKILL');
    expect(existsSync(join(tmp, 'killed.json'))).toBe(false);
    const w = await whole.done;
    expect(w.code, w.stderr).toBe(0);

    const resumed = start(join(tmp, 'run'), join(tmp, 'resumed.json'));
    const r = await resumed.done;
    expect(r.code, r.stderr).toBe(0);
    const a = JSON.parse(readFileSync(join(tmp, 'whole.json'), 'utf8'));
    const b = JSON.parse(readFileSync(join(tmp, 'resumed.json'), 'utf8'));
    expect(b.program).toBe(a.program);
    expect(b.bestScore).toBe(a.bestScore);
    // The finished work was skipped: the resumed process made fewer LM calls.
    expect(killedAt).toBeGreaterThan(10);
    expect(b.calls).toBeGreaterThan(0);
    expect(b.calls).toBeLessThan(a.calls);
  });
});
