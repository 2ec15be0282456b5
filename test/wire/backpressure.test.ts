import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { CLI, ensureBuilt, ROOT } from '../support/build.js';
import { frame, StrictFrameReader } from '../support/frames.js';

// Issue #12, break 3: a peer that sends requests and never reads the replies. The sidecar
// must stop reading its input once its stdout buffer passes ELEXIRION_MAX_STDOUT_BUFFER_BYTES
// (default 4 MiB), so the peer's writes block instead of the sidecar's memory growing.
// Before the fix it queued 813 MB in 15 s. Two things are checked: VmRSS stays under 200 MB
// (the bound), and the sidecar stops taking input: in the flood's last second the peer's
// writes never drain. The second is what tells a bounded sidecar from one that reads on and
// grows more slowly than the flood is long, so the flood need not run long enough for memory
// alone to show it: WIRE_BACKPRESSURE_MS (default 3 s; the 30 s with
// WIRE_BACKPRESSURE_MS=30000).
const DURATION_MS = Number(process.env.WIRE_BACKPRESSURE_MS ?? 3_000);
const RSS_BOUND_KB = 200 * 1024;
const QUIET_TAIL_MS = 1_000;

beforeAll(() => ensureBuilt());

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

it(
  `keeps the sidecar under ${RSS_BOUND_KB / 1024} MB while a peer floods it with requests and never reads, then answers every one`,
  async () => {
    const child = spawn(process.execPath, [CLI, 'serve'], {
      cwd: ROOT,
      env: { ...process.env, ELEXIRION_LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.on('error', () => {});
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Stdout is not read at all during the flood: the pipe fills and stays full.
    child.stdout.pause();
    const bigId = 'i'.repeat(10 * 1024); // 10 KB ids: the 3.19 GB-in-30-s attack
    let sent = 0;
    const burst = (n: number): Buffer => {
      const frames: Buffer[] = [];
      for (let i = 0; i < n; i++, sent++) {
        const id = sent % 2 === 0 ? sent : `${bigId}${sent}`;
        frames.push(frame('packet4', JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' })));
      }
      return Buffer.concat(frames);
    };
    let maxRss = 0;
    const sampler = setInterval(() => {
      try {
        maxRss = Math.max(maxRss, rssKb(child.pid!));
      } catch {
        /* exited */
      }
    }, 200);
    // Every time the sidecar took what the peer had queued: once it stops reading, none come.
    const drains: number[] = [];
    let wake: (() => void) | undefined;
    child.stdin.on('drain', () => {
      drains.push(performance.now());
      wake?.();
    });
    const started = performance.now();
    let ended = started;
    try {
      while ((ended = performance.now()) - started < DURATION_MS) {
        if (!child.stdin.write(burst(64))) {
          // Wait for the sidecar to take more, or give the clock a chance to end the flood.
          await new Promise<void>((r) => {
            const t = setTimeout(r, 100);
            wake = () => {
              clearTimeout(t);
              r();
            };
          });
          wake = undefined;
        }
      }
      maxRss = Math.max(maxRss, rssKb(child.pid!));
    } finally {
      clearInterval(sampler);
    }
    expect(child.exitCode, stderr).toBeNull();
    const lateDrains = drains.filter((at) => at > ended - QUIET_TAIL_MS).length;
    expect(lateDrains, `${drains.length} drains in ${DURATION_MS} ms: the sidecar kept reading`).toBe(0);
    expect(maxRss, `peak VmRSS ${maxRss} kB after ${sent} requests`).toBeLessThan(RSS_BOUND_KB);

    // Now read: every request sent is answered exactly once, then the sidecar leaves at EOF.
    const seen = new Set<unknown>();
    let dupes = 0;
    let done!: () => void;
    const allIn = new Promise<void>((r) => (done = r));
    const reader = new StrictFrameReader('packet4', (v) => {
      const id = (v as { id: unknown }).id;
      if (seen.has(id)) dupes++;
      seen.add(id);
      if (seen.size === sent) done();
    });
    child.stdout.on('data', (d: Buffer) => reader.push(d));
    child.stdout.resume();
    const timer = setTimeout(() => done(), 120_000);
    await allIn;
    clearTimeout(timer);
    expect(dupes).toBe(0);
    expect(seen.size).toBe(sent);
    expect(reader.problems).toEqual([]);
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin.end();
    await exited;
    // The measured figures, for the record (PROTOCOL.md "Limits" quotes them).
    process.stderr.write(`backpressure: ${sent} requests in ${DURATION_MS} ms, peak sidecar VmRSS ${(maxRss / 1024).toFixed(1)} MB\n`);
  },
  DURATION_MS + 180_000,
);
