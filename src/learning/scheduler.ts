// Cron-driven jobs with persisted state.
//
//  - Each job fires at the instants of its cron expression in its time zone (cron.ts, with the
//    DST rules documented there).
//  - Catch-up: on each tick a job is due when its next fire time after the last one it ran for
//    (or after the moment the job was first registered) has passed. However many fire times
//    were missed (downtime, a sleeping laptop), the job runs ONCE, for the latest missed one;
//    the count collapsed is recorded in its state (`missedRuns`) and ctx.caughtUp is true.
//  - A job still running at its next fire time is not started twice: that fire is skipped and
//    counted (`skippedWhileRunning`).
//  - State (last fire time per job) is written atomically (temp + rename) BEFORE the job runs:
//    a crash mid-run does not re-run that slot after restart (at most once per fire time); the
//    interrupted run shows as lastOutcome "interrupted".
//  - Time and timers come from an injectable Clock; the timer is re-armed after each tick for the
//    earliest due job, capped at maxTimerMs so a wall-clock jump is noticed.
import * as z from 'zod';
import { parseCron, nextFireAfter, assertTimeZone, type CronExpr } from '../util/cron.js';
import { systemClock, type Clock } from '../util/clock.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic_file.js';

export interface JobContext {
  jobId: string;
  /** the fire time this run is for (the latest one when catching up) */
  scheduledFor: number;
  startedAt: number;
  /** true when more than one fire time was collapsed into this run */
  caughtUp: boolean;
  missed: number;
  signal: AbortSignal;
}

export interface JobSpec {
  id: string;
  cron: string;
  timeZone?: string;
  run(ctx: JobContext): Promise<unknown> | unknown;
}

const JobStateSchema = z.object({
  registeredAt: z.number(),
  lastScheduledFor: z.number().nullable(),
  lastStartedAt: z.number().nullable(),
  lastFinishedAt: z.number().nullable(),
  lastOutcome: z.enum(['ok', 'error', 'running', 'interrupted']).nullable(),
  lastError: z.string().nullable(),
  runs: z.number(),
  missedRuns: z.number(),
  skippedWhileRunning: z.number(),
});
export type JobState = z.infer<typeof JobStateSchema>;

const StateFileSchema = z.object({
  version: z.literal(1),
  jobs: z.record(z.string(), JobStateSchema),
});
type StateFile = z.infer<typeof StateFileSchema>;

export interface SchedulerOptions {
  statePath: string;
  jobs: JobSpec[];
  clock?: Clock;
  /** IANA zone for jobs that name none. "UTC" */
  timeZone?: string;
  /** longest timer armed. 60 s */
  maxTimerMs?: number;
  onJobError?: (jobId: string, err: unknown) => void;
}

interface Job {
  spec: JobSpec;
  expr: CronExpr;
  tz: string;
  running: Promise<void> | null;
}

const MAX_CATCHUP_STEPS = 100_000;

export class Scheduler {
  private readonly clock: Clock;
  private readonly maxTimerMs: number;
  private readonly jobs = new Map<string, Job>();
  private state: StateFile = { version: 1, jobs: {} };
  private timer: unknown = null;
  private started = false;
  private ticking: Promise<string[]> | null = null;
  private persistChain: Promise<void> = Promise.resolve();
  private abort = new AbortController();

  private constructor(private readonly opts: SchedulerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.maxTimerMs = opts.maxTimerMs ?? 60_000;
    const defaultTz = opts.timeZone ?? 'UTC';
    for (const spec of opts.jobs) {
      if (this.jobs.has(spec.id)) throw new Error(`duplicate job id "${spec.id}"`);
      const tz = spec.timeZone ?? defaultTz;
      assertTimeZone(tz);
      this.jobs.set(spec.id, { spec, expr: parseCron(spec.cron), tz, running: null });
    }
  }

  /** Loads persisted state (an invalid state file is an error, not silently reset). */
  static async open(opts: SchedulerOptions): Promise<Scheduler> {
    const s = new Scheduler(opts);
    const raw = await readJsonIfExists(opts.statePath);
    if (raw !== undefined) {
      const parsed = StateFileSchema.safeParse(raw);
      if (!parsed.success) throw new Error(`${opts.statePath}: invalid scheduler state: ${parsed.error.issues[0]?.message}`);
      s.state = parsed.data;
    }
    const now = s.clock.now();
    for (const id of s.jobs.keys()) {
      const js = s.state.jobs[id];
      if (!js) {
        s.state.jobs[id] = {
          registeredAt: now,
          lastScheduledFor: null,
          lastStartedAt: null,
          lastFinishedAt: null,
          lastOutcome: null,
          lastError: null,
          runs: 0,
          missedRuns: 0,
          skippedWhileRunning: 0,
        };
      } else if (js.lastOutcome === 'running') {
        js.lastOutcome = 'interrupted';
      }
    }
    await s.persist();
    return s;
  }

  /** Arms the timer; due jobs (including missed ones) run on the first tick, right away. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    this.arm(0);
  }

  /** Stops the timer, signals running jobs and waits for them. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.abort.abort();
    await this.idle();
  }

  /** Resolves when no tick and no job is in progress. */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [this.ticking, ...[...this.jobs.values()].map((j) => j.running)].filter((p) => p !== null);
      if (pending.length === 0) break;
      await Promise.allSettled(pending);
    }
    await this.persistChain;
  }

  /** Resolves when no tick is in progress and state writes are done (jobs may still run). */
  async settled(): Promise<void> {
    while (this.ticking) await this.ticking.catch(() => {});
    await this.persistChain;
  }

  /** The next fire time of a job after its last run (or registration). */
  nextDue(jobId: string): number | null {
    const job = this.jobs.get(jobId);
    const js = this.state.jobs[jobId];
    if (!job || !js) return null;
    return nextFireAfter(job.expr, job.tz, js.lastScheduledFor ?? js.registeredAt);
  }

  jobState(jobId: string): JobState | undefined {
    const js = this.state.jobs[jobId];
    return js ? { ...js } : undefined;
  }

  /** Starts every due job (not awaiting them); returns the ids started. */
  tick(): Promise<string[]> {
    if (this.ticking) return this.ticking;
    this.ticking = this.doTick().finally(() => {
      this.ticking = null;
      if (this.started) this.arm();
    });
    return this.ticking;
  }

  private async doTick(): Promise<string[]> {
    const now = this.clock.now();
    const fired: string[] = [];
    let dirty = false;
    for (const [id, job] of this.jobs) {
      const js = this.state.jobs[id]!;
      const due = nextFireAfter(job.expr, job.tz, js.lastScheduledFor ?? js.registeredAt);
      if (due === null || due > now) continue;
      let latest = due;
      let count = 1;
      for (let i = 0; i < MAX_CATCHUP_STEPS; i++) {
        const n = nextFireAfter(job.expr, job.tz, latest);
        if (n === null || n > now) break;
        latest = n;
        count++;
      }
      if (job.running) {
        js.lastScheduledFor = latest;
        js.skippedWhileRunning += count;
        dirty = true;
        continue;
      }
      js.lastScheduledFor = latest;
      js.lastStartedAt = now;
      js.lastOutcome = 'running';
      js.lastError = null;
      js.runs++;
      js.missedRuns += count - 1;
      fired.push(id);
      const ctx: JobContext = {
        jobId: id,
        scheduledFor: latest,
        startedAt: now,
        caughtUp: count > 1,
        missed: count - 1,
        signal: this.abort.signal,
      };
      await this.persist();
      job.running = this.runJob(job, ctx).finally(() => {
        job.running = null;
      });
    }
    if (dirty) await this.persist();
    return fired;
  }

  private async runJob(job: Job, ctx: JobContext): Promise<void> {
    const js = this.state.jobs[job.spec.id]!;
    try {
      await job.spec.run(ctx);
      js.lastOutcome = 'ok';
    } catch (err) {
      js.lastOutcome = 'error';
      js.lastError = err instanceof Error ? err.message : String(err);
      this.opts.onJobError?.(job.spec.id, err);
    }
    js.lastFinishedAt = this.clock.now();
    // A failed state write (disk full...) is reported, never left as a rejection of
    // `job.running`, which nobody awaits outside idle(): the next successful write carries it.
    await this.persist().catch((err: unknown) => this.opts.onJobError?.(job.spec.id, err));
  }

  private arm(delay?: number): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    let ms = delay;
    if (ms === undefined) {
      const now = this.clock.now();
      let earliest = Infinity;
      for (const id of this.jobs.keys()) {
        const d = this.nextDue(id);
        if (d !== null && d < earliest) earliest = d;
      }
      ms = Math.min(this.maxTimerMs, Math.max(0, earliest - now));
    }
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      // tick() rejects when the state cannot be written before a job starts: report it (the
      // timer is re-armed by tick's finally) instead of leaving an unhandled rejection.
      this.tick().catch((err: unknown) => this.opts.onJobError?.('scheduler', err));
    }, ms);
  }

  private persist(): Promise<void> {
    const snapshot = JSON.parse(JSON.stringify(this.state)) as StateFile;
    const write = this.persistChain.then(() => writeJsonAtomic(this.opts.statePath, snapshot));
    this.persistChain = write.catch(() => {}); // one failed write must not wedge later ones
    return write;
  }
}
