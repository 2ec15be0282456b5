// The continuous-learning loop behind one object: telemetry in, durable store, usage export,
// production examples, the seed's schedule, the re-optimization policy, the promotion guard,
// the run ledger and the registry of current configs.
//
// Data directory layout:
//   executions/              segment files of the execution store (segment_log.ts)
//   scheduler.json           last fire time per job (atomic)
//   baselines.json           per-pipeline baselines (atomic)
//   examples-added.jsonl     dedup keys of production examples already added (append+fsync)
//   feedback-cursor.json     store position the feedback job has processed up to (atomic)
//   ledger.jsonl             every optimization decision (append+fsync)
//   configs/current/         the current optimized config per pipeline (atomic)
//   configs/rejected/        rejected candidates with their reason
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ExecutionStore, type ExecutionStoreStats } from '../store/execution_store.js';
import type { SegmentLogOptions, LogPosition } from '../store/segment_log.js';
import { TelemetryIngester, type IngestResult, type IngesterStats, type TelemetryIngesterOptions } from './telemetry_ingester.js';
import { computeUsage, ExportQuerySchema, type ExportQuery, type UsageReport } from './usage_export.js';
import { parseTimeSpec } from '../util/time_spec.js';
import { ProductionExamples, type ExampleSink, type ExampleHarvestResult } from './production_examples.js';
import { Scheduler, type JobContext, type JobSpec, type JobState } from './scheduler.js';
import { systemClock, type Clock } from '../util/clock.js';
import { PipelineLocks } from './pipeline_locks.js';
import { BaselineStore, DEFAULT_POLICY, shouldOptimize, type PolicyConfig, type PolicyDecision } from './policy.js';
import { decidePromotion, DEFAULT_GUARD, type GuardConfig, type GuardDecision } from './promotion_guard.js';
import { RunLedger, type LedgerEntry } from './run_ledger.js';
import { ConfigRegistry, type CurrentConfig } from './config_registry.js';
import { promptDiff } from './prompt_diff.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic_file.js';
import type { ExecutionRecord } from '../store/execution_record.js';

export type OptimizationMode = 'light' | 'full';

export interface RunRequest {
  pipeline: string;
  mode: OptimizationMode;
  /** the usage window that motivated the run */
  usage: UsageReport;
  /** the config in force (null before the first promotion: the pipeline's own prompts) */
  current: CurrentConfig | null;
  trigger: string;
  signal: AbortSignal;
}

/**
 * What an optimizer run returns. The runner scores BOTH the config in force and the candidate on
 * the same held-out examples (same order), so the guard can pair them.
 */
export interface RunOutcome {
  candidateConfig: unknown;
  currentScores: number[];
  candidateScores: number[];
  /** what the candidate was compared against when `current` was null (for the prompt diff) */
  currentConfig?: unknown;
  cost?: LedgerEntry['cost'];
}

export type OptimizerRunner = (req: RunRequest) => Promise<RunOutcome>;

export interface PromotionEvent {
  pipeline: string;
  version: number;
  config: unknown;
  decision: GuardDecision;
  ledgerId: string;
  promotedAt: string;
}

export interface OptimizationResult {
  pipeline: string;
  decision: LedgerEntry['decision'];
  reason: string;
  ledgerId: string;
  guard?: GuardDecision;
}

export interface LearnerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ScheduleConfig {
  /** IANA time zone of the cron expressions. "UTC" */
  timeZone?: string;
  /** light optimization of underperforming pipelines. "0 2 * * *"; null disables */
  daily?: string | null;
  /** full re-optimization of every pipeline. "0 3 * * 0" (Sunday 03:00); null disables */
  weekly?: string | null;
  /** production feedback -> training examples. "*\/10 * * * *"; null disables */
  feedback?: string | null;
  maxTimerMs?: number;
}

export interface ContinuousLearnerOptions {
  dataDir: string;
  exampleSink: ExampleSink;
  runOptimizer: OptimizerRunner;
  /** called after a promotion is durable (the lead turns it into a notification to Elixir) */
  onPromoted?: (e: PromotionEvent) => void | Promise<void>;
  /** pipelines the weekly job re-optimizes besides those seen in usage or with a config */
  knownPipelines?: () => string[] | Promise<string[]>;
  clock?: Clock;
  store?: Omit<SegmentLogOptions, 'dir' | 'now'>;
  ingest?: TelemetryIngesterOptions;
  schedule?: ScheduleConfig;
  policy?: Partial<PolicyConfig>;
  guard?: Partial<GuardConfig>;
  /** quality at which an execution becomes a training example. 8.0 */
  exampleThreshold?: number;
  logger?: LearnerLogger;
}

export interface LearnerStats {
  store: ExecutionStoreStats;
  ingest: IngesterStats;
  jobs: Record<string, JobState | undefined>;
  optimizing: Record<string, number>;
  skippedOptimizations: number;
}

const silent: LearnerLogger = { info() {}, warn() {}, error() {} };
export const DEFAULT_SCHEDULE = { timeZone: 'UTC', daily: '0 2 * * *', weekly: '0 3 * * 0', feedback: '*/10 * * * *' } as const;

export class ContinuousLearner {
  private readonly clock: Clock;
  private readonly log: LearnerLogger;
  private readonly locks = new PipelineLocks();
  private readonly abort = new AbortController();
  private readonly policy: PolicyConfig;
  private readonly guard: GuardConfig;
  private readonly exampleThreshold: number;
  private skipped = 0;
  private feedbackRunning: Promise<ExampleHarvestResult> | null = null;

  private constructor(
    private readonly opts: ContinuousLearnerOptions,
    readonly store: ExecutionStore,
    private readonly ingester: TelemetryIngester,
    private readonly examples: ProductionExamples,
    private readonly baselines: BaselineStore,
    readonly ledger: RunLedger,
    readonly registry: ConfigRegistry,
    private scheduler: Scheduler | null,
    private cursor: LogPosition | null,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silent;
    this.policy = { ...DEFAULT_POLICY, ...opts.policy };
    this.guard = { ...DEFAULT_GUARD, ...opts.guard };
    this.exampleThreshold = opts.exampleThreshold ?? 8.0;
  }

  static async open(opts: ContinuousLearnerOptions): Promise<ContinuousLearner> {
    const clock = opts.clock ?? systemClock;
    const dir = opts.dataDir;
    // the store keeps real time (file mtimes, fsync intervals), not the injectable clock
    const store = await ExecutionStore.open({ ...opts.store, dir: join(dir, 'executions') });
    try {
      return await ContinuousLearner.openWith(opts, clock, store);
    } catch (err) {
      // Release the segment file (and its sync timer): the caller may retry the open.
      await store.close().catch(() => {});
      throw err;
    }
  }

  private static async openWith(opts: ContinuousLearnerOptions, clock: Clock, store: ExecutionStore): Promise<ContinuousLearner> {
    const dir = opts.dataDir;
    const ingester = new TelemetryIngester(store, opts.ingest);
    const examples = await ProductionExamples.open(join(dir, 'examples-added.jsonl'), opts.exampleSink, opts.exampleThreshold ?? 8.0);
    const baselines = await BaselineStore.open(join(dir, 'baselines.json'));
    const cursor = ((await readJsonIfExists(join(dir, 'feedback-cursor.json'))) as LogPosition | undefined) ?? null;
    const learner = new ContinuousLearner(
      opts,
      store,
      ingester,
      examples,
      baselines,
      new RunLedger(join(dir, 'ledger.jsonl')),
      new ConfigRegistry(join(dir, 'configs')),
      null,
      cursor,
    );
    learner.scheduler = await Scheduler.open({
      statePath: join(dir, 'scheduler.json'),
      jobs: learner.jobs(),
      clock,
      timeZone: opts.schedule?.timeZone ?? DEFAULT_SCHEDULE.timeZone,
      maxTimerMs: opts.schedule?.maxTimerMs,
      onJobError: (jobId, err) => learner.log.error({ jobId, err: String(err) }, 'learning job failed'),
    });
    return learner;
  }

  private jobs(): JobSpec[] {
    const s = this.opts.schedule ?? {};
    const pick = (v: string | null | undefined, d: string) => (v === null ? null : (v ?? d));
    const jobs: JobSpec[] = [];
    const daily = pick(s.daily, DEFAULT_SCHEDULE.daily);
    const weekly = pick(s.weekly, DEFAULT_SCHEDULE.weekly);
    const feedback = pick(s.feedback, DEFAULT_SCHEDULE.feedback);
    if (feedback) jobs.push({ id: 'feedback', cron: feedback, run: () => this.processFeedback() });
    if (daily) jobs.push({ id: 'daily', cron: daily, run: (ctx) => this.dailyOptimization(ctx) });
    if (weekly) jobs.push({ id: 'weekly', cron: weekly, run: (ctx) => this.weeklyOptimization(ctx) });
    return jobs;
  }

  // ---- ingestion ------------------------------------------------------------------------

  /** `telemetry/events`: validates and queues; never blocks. Throws IngestValidationError on a bad envelope. */
  ingest(params: unknown): IngestResult {
    return this.ingester.ingest(params);
  }

  /**
   * `telemetry/flush`: resolves once everything ingested before the call is durable, with the
   * protocol's TelemetryFlushResult (records durably stored so far; shed/dropped are in stats()).
   */
  async flush(): Promise<{ durable: number }> {
    await this.store.flush();
    return { durable: this.store.stats().durable };
  }

  /** `telemetry/export` (the `since` forms: ISO, unix ms, "30m", "24h", "7d"). */
  exportUsage(query: ExportQuery): Promise<UsageReport> {
    const now = this.clock.now();
    const q = ExportQuerySchema.parse(query);
    const window = { minTime: parseTimeSpec(q.since, now), maxTime: q.until === undefined ? now : parseTimeSpec(q.until, now) };
    return computeUsage(this.store.records(undefined, window), q, { now, exampleThreshold: this.exampleThreshold });
  }

  stats(): LearnerStats {
    const jobs: Record<string, JobState | undefined> = {};
    for (const id of ['feedback', 'daily', 'weekly']) jobs[id] = this.scheduler?.jobState(id);
    return {
      store: this.store.stats(),
      ingest: this.ingester.stats(),
      jobs,
      optimizing: this.locks.running(),
      skippedOptimizations: this.skipped,
    };
  }

  getCurrentConfig(pipeline: string): Promise<CurrentConfig | null> {
    return this.registry.getCurrentConfig(pipeline);
  }

  // ---- scheduled work -------------------------------------------------------------------

  startScheduler(): void {
    this.scheduler!.start();
  }

  /** Runs due jobs now (the timer does this by itself once started). */
  tick(): Promise<string[]> {
    return this.scheduler!.tick();
  }

  /** Waits for running jobs. */
  idle(): Promise<void> {
    return this.scheduler!.idle();
  }

  /** Every 10 minutes: new store records scoring >= threshold -> training examples. */
  processFeedback(): Promise<ExampleHarvestResult> {
    if (this.feedbackRunning) return this.feedbackRunning;
    this.feedbackRunning = this.doProcessFeedback().finally(() => {
      this.feedbackRunning = null;
    });
    return this.feedbackRunning;
  }

  private async doProcessFeedback(): Promise<ExampleHarvestResult> {
    let last: LogPosition | null = null;
    const store = this.store;
    const from = this.cursor ?? undefined;
    async function* records(): AsyncGenerator<ExecutionRecord> {
      for await (const { record, next } of store.scan(from)) {
        yield record;
        last = next;
      }
    }
    const res = await this.examples.harvest(records(), this.clock.now());
    if (last) {
      this.cursor = last;
      // The cursor is fsynced; the records it points past must be too. Otherwise, after a power
      // loss, recovery cuts the segment short of the cursor, new records land below it, and the
      // feedback job would skip them (and resume mid-frame).
      await this.store.flush();
      await writeJsonAtomic(join(this.opts.dataDir, 'feedback-cursor.json'), last);
    }
    if (res.added) this.log.info({ ...res }, 'production examples added');
    return res;
  }

  /** Daily: light optimization of the pipelines the policy flags over the last 24 h. */
  async dailyOptimization(ctx?: JobContext): Promise<OptimizationResult[]> {
    await this.processFeedback();
    const usage = await this.exportUsage({ since: '24h' });
    const out: OptimizationResult[] = [];
    for (const name of Object.keys(usage.pipelines)) {
      const d = this.policyFor(name, usage);
      if (!d.optimize) continue;
      out.push(await this.optimizePipeline(name, 'light', { trigger: `daily: ${d.reasons.join('; ')}`, usage, signal: ctx?.signal }));
    }
    return out;
  }

  /** Weekly: full re-optimization of every pipeline seen in 7 days, with a config, or known. */
  async weeklyOptimization(ctx?: JobContext): Promise<OptimizationResult[]> {
    await this.processFeedback();
    const usage = await this.exportUsage({ since: '7d' });
    const names = new Set([...Object.keys(usage.pipelines), ...(await this.registry.pipelines()), ...((await this.opts.knownPipelines?.()) ?? [])]);
    const out: OptimizationResult[] = [];
    for (const name of [...names].sort()) out.push(await this.optimizePipeline(name, 'full', { trigger: 'weekly', usage, signal: ctx?.signal }));
    return out;
  }

  /** The policy's view of one pipeline in a usage report. */
  policyFor(pipeline: string, usage: UsageReport): PolicyDecision {
    const b = this.baselines.get(pipeline);
    const p = usage.pipelines[pipeline] ?? { success_rate: null, count: 0 };
    return shouldOptimize({ usage: p, newExamplesSinceLast: this.examples.countSince(pipeline, b?.lastOptimizedAt ?? 0) }, b, this.policy);
  }

  /**
   * One optimization run under the per-pipeline lock: run the optimizer, ask the guard, record
   * the decision in the ledger, then promote (registry + onPromoted) or keep the rejected
   * candidate; baselines are updated after each completed run.
   */
  async optimizePipeline(
    pipeline: string,
    mode: OptimizationMode,
    o: { trigger?: string; usage?: UsageReport; signal?: AbortSignal } = {},
  ): Promise<OptimizationResult> {
    const trigger = o.trigger ?? 'manual';
    const ledgerId = randomUUID();
    const time = () => new Date(this.clock.now()).toISOString();
    const release = this.locks.tryAcquire(pipeline, this.clock.now());
    if (!release) {
      this.skipped++;
      const reason = 'an optimization of this pipeline is already running';
      await this.ledger.append({ id: ledgerId, pipeline, time: time(), mode, trigger, decision: 'skipped', reason });
      return { pipeline, decision: 'skipped', reason, ledgerId };
    }
    try {
      const usage = o.usage ?? (await this.exportUsage({ since: mode === 'full' ? '7d' : '24h' }));
      const current = await this.registry.getCurrentConfig(pipeline);
      const signal = o.signal ? AbortSignal.any([o.signal, this.abort.signal]) : this.abort.signal;
      let outcome: RunOutcome;
      try {
        outcome = await this.opts.runOptimizer({ pipeline, mode, usage, current, trigger, signal });
      } catch (err) {
        const reason = `optimizer failed: ${err instanceof Error ? err.message : String(err)}`;
        await this.ledger.append({ id: ledgerId, pipeline, time: time(), mode, trigger, decision: 'failed', reason });
        return { pipeline, decision: 'failed', reason, ledgerId };
      }
      const g = decidePromotion(outcome.currentScores, outcome.candidateScores, this.guard);
      const entry: LedgerEntry = {
        id: ledgerId,
        pipeline,
        time: time(),
        mode,
        trigger,
        decision: g.promote ? 'promoted' : 'rejected',
        reason: g.reason,
        scores: {
          current: outcome.currentScores,
          candidate: outcome.candidateScores,
          currentMean: g.currentMean,
          candidateMean: g.candidateMean,
          meanDiff: g.meanDiff,
        },
        interval: g.interval,
        margin: g.margin,
        cost: outcome.cost ?? {},
        promptDiff: promptDiff(current?.config ?? outcome.currentConfig ?? null, outcome.candidateConfig),
      };
      const now = new Date(this.clock.now());
      if (!g.promote) entry.candidatePath = await this.registry.keepRejected(pipeline, outcome.candidateConfig, g.reason, ledgerId, now);
      await this.ledger.append(entry);
      const prev = this.baselines.get(pipeline);
      await this.baselines.update(pipeline, {
        successRate: usage.pipelines[pipeline]?.success_rate ?? prev?.successRate ?? null,
        lastOptimizedAt: this.clock.now(),
        lastMode: mode,
        lastDecision: entry.decision,
        bestScore: g.promote ? g.candidateMean : (prev?.bestScore ?? g.currentMean),
      });
      if (g.promote) {
        const installed = await this.registry.promote(pipeline, outcome.candidateConfig, ledgerId, now);
        try {
          await this.opts.onPromoted?.({
            pipeline,
            version: installed.version,
            config: installed.config,
            decision: g,
            ledgerId,
            promotedAt: installed.promotedAt,
          });
        } catch (err) {
          this.log.warn({ pipeline, err: String(err) }, 'onPromoted callback failed');
        }
      }
      return { pipeline, decision: entry.decision, reason: g.reason, ledgerId, guard: g };
    } finally {
      release();
    }
  }

  /** Stops the scheduler (signalling running jobs), then flushes and closes the store. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.scheduler?.stop();
    await this.feedbackRunning?.catch(() => {});
    await this.store.close();
  }
}
