import { describe, it, expect, afterEach, vi } from 'vitest';
import { join } from 'node:path';
import { FakeClock } from '../../src/util/clock.js';
import { Scheduler, type JobContext, type JobSpec } from '../../src/learning/index.js';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
const at = (s: string) => Date.parse(s);
const iso = (t: number) => new Date(t).toISOString();

function setup(start: string) {
  const t = tempDir('sched-');
  cleanups.push(t.cleanup);
  const clock = new FakeClock(at(start));
  const fired: Record<string, string[]> = {};
  const ctxs: JobContext[] = [];
  const job = (id: string, cron: string, timeZone?: string, run?: (c: JobContext) => Promise<void>): JobSpec => ({
    id,
    cron,
    timeZone,
    run: async (ctx) => {
      (fired[id] ??= []).push(iso(clock.now()));
      ctxs.push(ctx);
      await run?.(ctx);
    },
  });
  const open = (jobs: JobSpec[], tz = 'UTC') =>
    Scheduler.open({ statePath: join(t.dir, 'scheduler.json'), jobs, clock, timeZone: tz, maxTimerMs: 86_400_000 });
  return { clock, fired, ctxs, job, open };
}

describe('Scheduler on a fake clock', () => {
  it('daily 02:00 and weekly Sunday 03:00 fire at the right instants across the New York DST start', async () => {
    const { clock, fired, job, open } = setup('2026-03-05T12:00:00Z');
    const s = await open([job('daily', '0 2 * * *'), job('weekly', '0 3 * * 0')], 'America/New_York');
    s.start();
    await clock.advanceTo(at('2026-03-16T12:00:00Z'), () => s.idle());
    await s.stop();
    expect(fired['daily']).toEqual([
      '2026-03-06T07:00:00.000Z', // 02:00 EST
      '2026-03-07T07:00:00.000Z',
      '2026-03-08T07:00:00.000Z', // 02:00 does not exist on the 8th: runs at 03:00 EDT
      '2026-03-09T06:00:00.000Z', // 02:00 EDT
      '2026-03-10T06:00:00.000Z',
      '2026-03-11T06:00:00.000Z',
      '2026-03-12T06:00:00.000Z',
      '2026-03-13T06:00:00.000Z',
      '2026-03-14T06:00:00.000Z',
      '2026-03-15T06:00:00.000Z',
      '2026-03-16T06:00:00.000Z',
    ]);
    expect(fired['weekly']).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-15T07:00:00.000Z']);
  });

  it('every 10 minutes keeps real 10-minute spacing through the Berlin fall-back hour, and daily runs once', async () => {
    const { clock, fired, job, open } = setup('2026-10-24T23:55:00Z'); // 01:55 CEST
    const s = await open([job('feedback', '*/10 * * * *'), job('daily', '30 2 * * *')], 'Europe/Berlin');
    s.start();
    await clock.advanceTo(at('2026-10-25T02:05:00Z'), () => s.idle()); // 03:05 CET
    await s.stop();
    const f = fired['feedback']!.map(at);
    expect(f[0]).toBe(at('2026-10-25T00:00:00Z'));
    expect(f.length).toBe(13); // 00:00Z .. 02:00Z, 02:00-03:00 local happened twice
    for (let i = 1; i < f.length; i++) expect(f[i]! - f[i - 1]!).toBe(600_000);
    expect(fired['daily']).toEqual(['2026-10-25T00:30:00.000Z']); // 02:30 CEST only, not 02:30 CET again
  });

  it('catches up a missed run once after downtime, then resumes the schedule; state survives restart', async () => {
    const { clock, fired, ctxs, job, open } = setup('2026-01-01T01:00:00Z');
    const jobs = () => [job('daily', '0 2 * * *'), job('feedback', '*/10 * * * *')];
    let s = await open(jobs());
    s.start();
    await clock.advanceTo(at('2026-01-01T02:05:00Z'), () => s.idle());
    await s.stop();
    expect(fired['daily']).toEqual(['2026-01-01T02:00:00.000Z']);
    const feedbackBefore = fired['feedback']!.length;
    expect(feedbackBefore).toBe(6); // 01:10 .. 02:00 (registered at 01:00)

    // restart an hour later: nothing is due again
    clock.jumpTo(at('2026-01-01T03:00:00.500Z'));
    s = await open(jobs());
    expect(s.jobState('daily')!.lastScheduledFor).toBe(at('2026-01-01T02:00:00Z'));
    expect(s.nextDue('daily')).toBe(at('2026-01-02T02:00:00Z'));
    await s.stop();

    // machine off for 4 days: one daily run and one feedback run, not 4 and not ~600
    clock.jumpTo(at('2026-01-05T10:03:00Z'));
    fired['daily'] = [];
    fired['feedback'] = [];
    ctxs.length = 0;
    s = await open(jobs());
    s.start();
    await clock.advance(0, () => s.idle());
    expect(fired['daily']).toEqual(['2026-01-05T10:03:00.000Z']);
    expect(fired['feedback']).toEqual(['2026-01-05T10:03:00.000Z']);
    const daily = ctxs.find((c) => c.jobId === 'daily')!;
    expect(daily).toMatchObject({ caughtUp: true, missed: 3, scheduledFor: at('2026-01-05T02:00:00Z') });
    expect(s.jobState('daily')).toMatchObject({ missedRuns: 3, lastOutcome: 'ok' });
    // and the schedule resumes normally
    await clock.advanceTo(at('2026-01-06T02:00:00Z'), () => s.idle());
    await s.stop();
    expect(fired['daily']).toEqual(['2026-01-05T10:03:00.000Z', '2026-01-06T02:00:00.000Z']);
  });

  it('does not start a job again while it is still running; the skipped fires are counted', async () => {
    const { clock, fired, job, open } = setup('2026-01-01T00:00:00Z');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await open([job('slow', '*/10 * * * *', undefined, () => gate)]);
    s.start();
    await clock.advanceTo(at('2026-01-01T00:35:00Z'), () => s.settled());
    expect(fired['slow']).toEqual(['2026-01-01T00:10:00.000Z']);
    expect(s.jobState('slow')!.skippedWhileRunning).toBe(2);
    release();
    await s.idle();
    expect(s.jobState('slow')!.lastOutcome).toBe('ok');
    await s.stop();
  });

  it('records a failing job and keeps scheduling it', async () => {
    const { clock, fired, job, open } = setup('2026-01-01T00:00:00Z');
    const s = await open([
      job('bad', '*/10 * * * *', undefined, async () => {
        throw new Error('boom');
      }),
    ]);
    s.start();
    await clock.advanceTo(at('2026-01-01T00:20:00Z'), () => s.idle());
    await s.stop();
    expect(fired['bad']!.length).toBe(2);
    expect(s.jobState('bad')).toMatchObject({ lastOutcome: 'error', lastError: 'boom', runs: 2 });
  });
});

describe('Scheduler state and config errors', () => {
  it('refuses a corrupt state file instead of silently forgetting the last runs; rejects bad cron / zone', async () => {
    const t = tempDir('sched-');
    cleanups.push(t.cleanup);
    const { writeFileSync } = await import('node:fs');
    const statePath = join(t.dir, 'scheduler.json');
    writeFileSync(statePath, '{"version": 1, "jobs": {"daily": {"registeredAt": "soon"}}}');
    const clock = new FakeClock(0);
    const jobs = [{ id: 'daily', cron: '0 2 * * *', run: () => {} }];
    await expect(Scheduler.open({ statePath, jobs, clock })).rejects.toThrow(/invalid scheduler state/);
    await expect(Scheduler.open({ statePath: join(t.dir, 'x.json'), jobs: [{ id: 'a', cron: '0 25 * * *', run: () => {} }], clock })).rejects.toThrow(/hour: 25/);
    await expect(Scheduler.open({ statePath: join(t.dir, 'y.json'), jobs, clock, timeZone: 'Mars/Olympus' })).rejects.toThrow(/unknown time zone/);
  });
  it('reports a failed state write through onJobError instead of an unhandled rejection', async () => {
    const t = tempDir('sched-');
    cleanups.push(t.cleanup);
    const { mkdirSync, rmSync, writeFileSync } = await import('node:fs');
    const stateDir = join(t.dir, 'state');
    mkdirSync(stateDir);
    // the state directory becomes a file: every later write of scheduler.json fails
    const breakState = () => {
      rmSync(stateDir, { recursive: true, force: true });
      writeFileSync(stateDir, 'not a directory');
    };
    const clock = new FakeClock(at('2026-01-01T00:09:59Z'));
    const errors: Array<[string, unknown]> = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on('unhandledRejection', onUnhandled);
    try {
      const s = await Scheduler.open({
        statePath: join(stateDir, 'scheduler.json'),
        jobs: [{ id: 'feedback', cron: '*/10 * * * *', run: async () => breakState() }],
        clock,
        maxTimerMs: 86_400_000,
        onJobError: (id, err) => errors.push([id, err]),
      });
      clock.jumpTo(at('2026-01-01T00:10:00Z'));
      expect(await s.tick()).toEqual(['feedback']); // its start was written; the job breaks the dir
      // Reported asynchronously (after the job's run): waited for, not slept for.
      await vi.waitFor(() => expect(errors.map(([id]) => id)).toEqual(['feedback']), { timeout: 10_000 });
      // the timer's tick cannot write the next start either: reported, not thrown into the void
      clock.jumpTo(at('2026-01-01T00:20:00Z'));
      s.start();
      await clock.advance(0);
      await vi.waitFor(() => expect(errors.map(([id]) => id)).toEqual(['feedback', 'scheduler']), { timeout: 10_000 });
      await s.stop();
      expect(errors.map(([id]) => id)).toEqual(['feedback', 'scheduler']); // each reported once
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
