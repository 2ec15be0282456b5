import { describe, it, expect, afterEach } from 'vitest';
import { FakeClock } from '../../src/util/clock.js';
import { ContinuousLearner, type ContinuousLearnerOptions, type RunRequest, type RunOutcome, type PromotionEvent } from '../../src/learning/index.js';
import { pino } from 'pino';
import { tempDir, execEvent } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
const at = (s: string) => Date.parse(s);

function harness(start: string) {
  const t = tempDir('learner-');
  cleanups.push(t.cleanup);
  const clock = new FakeClock(at(start));
  const examples: Array<{ pipeline: string; input: unknown; output: unknown }> = [];
  const runs: RunRequest[] = [];
  const promoted: PromotionEvent[] = [];
  let outcome: (req: RunRequest) => Promise<RunOutcome> = async () => ({
    candidateConfig: { analyze: { signature: { instructions: 'better' }, demos: [] } },
    currentConfig: { analyze: { signature: { instructions: 'original' }, demos: [] } },
    currentScores: Array.from({ length: 30 }, (_, i) => (i % 2 ? 0.5 : 0.6)),
    candidateScores: Array.from({ length: 30 }, (_, i) => (i % 2 ? 0.7 : 0.75)),
    cost: { usd: 0.12, calls: 40 },
  });
  const open = (extra: Partial<ContinuousLearnerOptions> = {}) =>
    ContinuousLearner.open({
      dataDir: t.dir,
      clock,
      exampleSink: { addExample: (pipeline, input, output) => void examples.push({ pipeline, input, output }) },
      runOptimizer: (req) => {
        runs.push(req);
        return outcome(req);
      },
      onPromoted: (e) => void promoted.push(e),
      schedule: { maxTimerMs: 86_400_000 },
      logger: pino({ level: 'silent' }), // the sidecar's pino logger fits LearnerLogger
      ...extra,
    });
  return { dir: t.dir, clock, examples, runs, promoted, open, setOutcome: (f: typeof outcome) => (outcome = f) };
}

describe('ContinuousLearner', () => {
  it('turns good executions into examples once, even across a restart', async () => {
    const h = harness('2026-01-01T00:00:00Z');
    let l = await h.open();
    const now = h.clock.now();
    l.ingest({
      events: [
        execEvent({ pipeline: 'a', time: now - 1000, findings: ['x'], input: { q: 1, z: 2 } }),
        execEvent({ pipeline: 'a', time: now - 900, findings: ['y'], input: { z: 2, q: 1 } }), // same input, other key order
        execEvent({ pipeline: 'a', time: now - 800, input: { q: 3 } }), // 7.0: below threshold
        execEvent({ pipeline: 'b', time: now - 700, findings: ['x'], input: { q: 1, z: 2 } }), // other pipeline
      ],
      dropped: 3,
    });
    expect(await l.flush()).toEqual({ durable: 4 });
    expect(l.stats().ingest.clientDropped).toBe(3);
    expect(await l.processFeedback()).toMatchObject({ considered: 4, added: 2, duplicates: 1, belowThreshold: 1 });
    expect(h.examples.map((e) => e.pipeline)).toEqual(['a', 'b']);
    await l.close();

    l = await h.open();
    l.ingest({ events: [execEvent({ pipeline: 'a', time: now, findings: ['x'], input: { q: 1, z: 2 } })], dropped: 0 });
    await l.flush();
    expect(await l.processFeedback()).toMatchObject({ considered: 1, added: 0, duplicates: 1 });
    expect(h.examples.length).toBe(2);
    const report = await l.exportUsage({ since: '24h' });
    expect(report).toMatchObject({ total: 5, successes: 5, new_examples: 2 });
    await l.close();
  });

  it('daily job: optimizes an underperforming pipeline, promotes a real gain, records ledger + registry + baseline', async () => {
    const h = harness('2026-01-01T12:00:00Z');
    const l = await h.open();
    const t0 = h.clock.now();
    const events = [];
    for (let i = 0; i < 20; i++) events.push(execEvent({ pipeline: 'bad', time: t0 + i, status: i % 4 ? 'success' : 'error' }));
    for (let i = 0; i < 20; i++) events.push(execEvent({ pipeline: 'good', time: t0 + i, status: 'success' }));
    l.ingest({ events, dropped: 0 });
    await l.flush();
    l.startScheduler();
    await h.clock.advanceTo(at('2026-01-02T02:00:00Z'), () => l.idle());
    expect(h.runs.map((r) => [r.pipeline, r.mode])).toEqual([['bad', 'light']]);
    expect(h.promoted).toHaveLength(1);
    expect(h.promoted[0]).toMatchObject({ pipeline: 'bad', version: 1 });
    const cur = await l.getCurrentConfig('bad');
    expect(cur).toMatchObject({ pipeline: 'bad', version: 1, config: { analyze: { signature: { instructions: 'better' } } } });
    const ledger = await l.ledger.entries();
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ pipeline: 'bad', decision: 'promoted', mode: 'light', cost: { usd: 0.12, calls: 40 } });
    expect(ledger[0]!.promptDiff).toContain('-instructions: original');
    expect(ledger[0]!.promptDiff).toContain('+instructions: better');
    expect(ledger[0]!.interval!.lower).toBeGreaterThan(0);
    expect(ledger[0]!.trigger).toMatch(/success rate 0.750 below baseline 0.950/);
    // the baseline moved to the rate seen at the run: the same usage no longer triggers
    const d = l.policyFor('bad', await l.exportUsage({ since: '24h' }));
    expect(d).toMatchObject({ optimize: false, threshold: 0.75 });
    await l.close();
  });

  it('rejects noise, keeps the candidate with the reason, and never runs two optimizations of one pipeline at once', async () => {
    const h = harness('2026-01-01T12:00:00Z');
    const l = await h.open();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.setOutcome(async () => {
      await gate;
      return {
        candidateConfig: { p: { signature: { instructions: 'noise' }, demos: [] } },
        currentScores: [0.5, 0.6, 0.7, 0.5, 0.6, 0.7, 0.5, 0.6],
        candidateScores: [0.6, 0.5, 0.7, 0.6, 0.5, 0.7, 0.5, 0.6],
      };
    });
    const first = l.optimizePipeline('p', 'full');
    await new Promise((r) => setImmediate(r));
    const second = await l.optimizePipeline('p', 'light', { trigger: 'manual again' });
    expect(second.decision).toBe('skipped');
    expect(l.stats().optimizing).toHaveProperty('p');
    release();
    const r1 = await first;
    expect(r1.decision).toBe('rejected');
    expect(h.runs).toHaveLength(1);
    expect(h.promoted).toHaveLength(0);
    expect(await l.getCurrentConfig('p')).toBeNull();
    const ledger = await l.ledger.entries();
    expect(ledger.map((e) => e.decision)).toEqual(['skipped', 'rejected']);
    expect(ledger[1]!.candidatePath).toMatch(/rejected/);
    expect(l.stats().skippedOptimizations).toBe(1);
    await l.close();
  });
});

describe('ContinuousLearner weekly job and registry', () => {
  it('weekly: full re-optimization of every pipeline seen, configured or known; names are safe as files', async () => {
    const h = harness('2026-01-01T12:00:00Z'); // a Thursday
    const l = await h.open({ knownPipelines: () => ['known'], schedule: { maxTimerMs: 86_400_000, feedback: null } });
    const t0 = h.clock.now();
    l.ingest({ events: [execEvent({ pipeline: 'seen/one', time: t0 }), execEvent({ pipeline: '..', time: t0 })], dropped: 0 });
    await l.flush();
    await l.registry.promote('configured', { x: 1 }, null);
    l.startScheduler();
    await h.clock.advanceTo(at('2026-01-04T03:00:00Z'), () => l.idle()); // Sunday 03:00 UTC
    const full = h.runs.filter((r) => r.mode === 'full').map((r) => r.pipeline);
    expect(full).toEqual(['..', 'configured', 'known', 'seen/one']);
    expect((await l.getCurrentConfig('..'))?.version).toBe(1);
    expect((await l.getCurrentConfig('configured'))?.version).toBe(2);
    expect((await l.registry.pipelines()).sort()).toEqual(['..', 'configured', 'known', 'seen/one']);
    await l.close();
  });
  it('releases the store when opening fails after it (no segment file left open for the retry)', async () => {
    const h = harness('2026-01-01T00:00:00Z');
    const l = await h.open();
    await l.close();
    // a corrupt line in the middle of a JSONL state file: opening fails after the store opened
    const { writeFileSync, readdirSync, readlinkSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dir = h.dir;
    writeFileSync(join(dir, 'examples-added.jsonl'), 'not json\n{}\n');
    await expect(h.open()).rejects.toThrow(/not valid JSON/);
    const openInStore = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(join(dir, 'executions'));
      } catch {
        return false;
      }
    });
    expect(openInStore).toEqual([]);
  });
  it('never persists a feedback cursor past records that are not yet fsynced', async () => {
    const h = harness('2026-01-01T00:00:00Z');
    const l = await h.open({ store: { fsyncIntervalMs: 60_000 } });
    const now = h.clock.now();
    l.ingest({ events: [execEvent({ pipeline: 'a', time: now - 10, findings: ['x'], input: { q: 1 } })], dropped: 0 });
    while (l.store.stats().written < 1) await new Promise((r) => setTimeout(r, 5));
    expect(l.store.stats().durable).toBe(0); // written, not yet fsynced (60 s interval)
    await l.processFeedback();
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    expect(existsSync(join(h.dir, 'feedback-cursor.json'))).toBe(true);
    expect(l.store.stats().durable).toBe(1);
    await l.close();
  });
});
