/**
 * The sidecar's side of continuous learning (issue #7): holds the `initialize` options, opens
 * the ContinuousLearner (src/learning/) on first use under `<dataDir>/learning`, feeds it
 * `telemetry/events`, starts its scheduler when pipelines are registered, turns promotions into
 * `learning/promoted` notifications, and closes it (flushing the store) at exit.
 *
 * Cold start: this file only holds types and bookkeeping; the learning library, the optimizers
 * and the pipeline modules load with the first telemetry or learning call (dynamic imports).
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ContinuousLearner, PromotionEvent } from '../learning/continuous_learner.js';
import type { LearningOptions, LearningPipeline } from '../protocol/learning.js';
import { ErrorCode, RpcError } from '../rpc/errors.js';
import type { CoreServices } from './services.js';

export const PROMOTED_NOTIFICATION = 'learning/promoted';

function disabledError(): RpcError {
  return new RpcError(ErrorCode.InvalidRequest, 'Invalid Request: learning is disabled (initialize options.learning.enabled = false)');
}

export interface WireIngestStats {
  batches: number;
  invalidBatches: number;
  droppedWhileDisabled: number;
  /** events shed because too many were waiting for the store to open */
  shedWhileOpening: number;
}

/** Events held (parsed, in the notification queue) while the store opens: ~20 MB of batches. */
export const MAX_EVENTS_WAITING_FOR_OPEN = 100_000;

export class LearningService {
  private options: LearningOptions = {};
  private registered: Record<string, LearningPipeline> = {};
  private opening: Promise<ContinuousLearner> | undefined;
  private value: ContinuousLearner | undefined;
  private closing: Promise<void> | undefined;
  private disposeRegistered = false;
  private schedulerStarted = false;
  private invalidSinceLog = 0;
  private lastInvalidLog = 0;
  readonly wire: WireIngestStats = { batches: 0, invalidBatches: 0, droppedWhileDisabled: 0, shedWhileOpening: 0 };
  private eventsWaitingForOpen = 0;
  private unlock: (() => Promise<void>) | undefined;
  private readonly log: Logger;

  constructor(private readonly services: CoreServices) {
    this.log = services.logger.child({ component: 'learning' });
  }

  get enabled(): boolean {
    return this.options.enabled ?? true;
  }

  /** `<dataDir>/learning`. */
  get dir(): string {
    return join(this.services.dataDir, 'learning');
  }

  get isOpen(): boolean {
    return this.value !== undefined;
  }

  /** The store is open or opening: this process may have ingested events. */
  get started(): boolean {
    return this.value !== undefined || this.opening !== undefined;
  }

  /** Throws the -32600 that learning requests get when learning is disabled. */
  assertEnabled(): void {
    if (!this.enabled) throw disabledError();
  }

  get schedulerRunning(): boolean {
    return this.schedulerStarted;
  }

  /** The open learner, if any (no side effect). */
  get current(): ContinuousLearner | undefined {
    return this.value;
  }

  private readonly progressListeners = new Map<string, (value: unknown) => void>();

  /** While `fn` runs, progress of `pipeline`'s optimization goes to `listener` (a request's `$/progress`). */
  async withProgress<T>(pipeline: string, listener: (value: unknown) => void, fn: () => Promise<T>): Promise<T> {
    if (this.progressListeners.has(pipeline)) return fn(); // another request already listens
    this.progressListeners.set(pipeline, listener);
    try {
      return await fn();
    } finally {
      this.progressListeners.delete(pipeline);
    }
  }

  /** Where a run of `pipeline` reports progress (a no-op for scheduled runs nobody asked about). */
  progress(pipeline: string): (value: unknown) => void {
    return (value) => this.progressListeners.get(pipeline)?.(value);
  }

  /** Registered pipelines, paths made absolute against the sidecar's working directory. */
  pipelines(): Record<string, LearningPipeline> {
    return this.registered;
  }

  pipeline(name: string): LearningPipeline | undefined {
    return Object.hasOwn(this.registered, name) ? this.registered[name] : undefined;
  }

  get defaultLM(): string | undefined {
    return this.options.lm;
  }

  /**
   * `initialize.params.options.learning` (already schema-checked). With learning enabled and at
   * least one pipeline registered, the learner opens right after the reply and its scheduler
   * starts; otherwise nothing loads until the first telemetry or learning call.
   */
  configure(options: LearningOptions | undefined): void {
    this.options = options ?? {};
    const abs = (p: string) => (isAbsolute(p) ? p : resolve(p));
    this.registered = {};
    for (const [name, p] of Object.entries(this.options.pipelines ?? {})) {
      this.registered[name] = { ...p, path: abs(p.path), ...(p.trainingData ? { trainingData: abs(p.trainingData) } : {}) };
    }
    if (this.enabled && Object.keys(this.registered).length > 0) {
      // After the initialize reply is written: opening the store is not part of cold start.
      setImmediate(() => {
        this.learner().then(
          (l) => {
            if (this.closing || this.schedulerStarted) return;
            l.startScheduler();
            this.schedulerStarted = true;
            this.log.info({ pipelines: Object.keys(this.registered), dir: this.dir }, 'learning scheduler started');
          },
          (err: unknown) => this.log.error({ err }, 'could not open the learner'),
        );
      });
    }
  }

  /** The learner, opened on first use. Refused (-32600) when learning is disabled. */
  learner(): Promise<ContinuousLearner> {
    if (!this.enabled) return Promise.reject(disabledError());
    if (this.value) return Promise.resolve(this.value);
    if (this.closing) return Promise.reject(new RpcError(ErrorCode.InvalidRequest, 'Invalid Request: the sidecar is exiting'));
    if (!this.disposeRegistered) {
      this.disposeRegistered = true;
      this.services.onDispose(() => this.close());
    }
    this.opening ??= this.open().catch((err: unknown) => {
      this.opening = undefined; // the next call tries again
      throw err;
    });
    return this.opening;
  }

  private async open(): Promise<ContinuousLearner> {
    const [{ ContinuousLearner }, runner, { lockDataDir }] = await Promise.all([
      import('../learning/continuous_learner.js'),
      import('./learning_runner.js'),
      import('./data_dir_lock.js'),
    ]);
    const o = this.options;
    this.unlock = await lockDataDir(this.dir);
    const learner = await ContinuousLearner.open({
      dataDir: this.dir,
      exampleSink: runner.productionExampleSink(this.dir),
      runOptimizer: runner.createLearningRunner(this.services, this),
      onPromoted: (e) => this.notifyPromoted(e),
      knownPipelines: () => Object.keys(this.registered),
      logger: this.log,
      ...(o.schedule ? { schedule: o.schedule } : {}),
      ...(o.policy ? { policy: o.policy } : {}),
      ...(o.guard ? { guard: o.guard } : {}),
      ...(o.exampleThreshold !== undefined ? { exampleThreshold: o.exampleThreshold } : {}),
    }).catch(async (err: unknown) => {
      await this.unlock?.();
      this.unlock = undefined;
      throw err;
    });
    const rec = learner.store.stats().recovery;
    this.log.info({ dir: this.dir, recovery: rec }, 'learner open');
    this.value = learner;
    return learner;
  }

  private notifyPromoted(e: PromotionEvent): void {
    const d = e.decision;
    this.services.peer.notify(PROMOTED_NOTIFICATION, {
      pipeline: e.pipeline,
      version: e.version,
      config: e.config,
      decision: {
        promote: d.promote,
        reason: d.reason,
        n: d.n,
        currentMean: d.currentMean,
        candidateMean: d.candidateMean,
        meanDiff: d.meanDiff,
        interval: d.interval,
        margin: d.margin,
      },
      ledgerId: e.ledgerId,
      promotedAt: e.promotedAt,
    });
  }

  /**
   * `telemetry/events`. Synchronous once the learner is open (the batch is queued in the store
   * before the handler returns, so a later `telemetry/flush` covers it); before that, each
   * batch waits here for the open, counted against MAX_EVENTS_WAITING_FOR_OPEN, and is ingested
   * in arrival order once it is open (callbacks on the one opening promise run in the order they
   * were added; `telemetry/flush` and `close` wait on the same promise after them).
   * A bad batch is logged (at most once a second) and counted; it never throws.
   */
  ingest(params: unknown, eventCount: number): void {
    if (!this.enabled) {
      this.wire.droppedWhileDisabled += eventCount;
      return;
    }
    if (this.value) {
      this.ingestInto(this.value, params);
      return;
    }
    // Batches waiting for the store to open sit parsed in the notification queue: bound them
    // by events too (the queue only bounds notifications), shedding and counting past it.
    if (this.eventsWaitingForOpen + eventCount > MAX_EVENTS_WAITING_FOR_OPEN) {
      this.wire.shedWhileOpening += eventCount;
      return;
    }
    this.eventsWaitingForOpen += eventCount;
    // Not returned to the notification queue: a pending handler would stall the queue, and the
    // batches behind it would wait there uncounted (up to 10,000 notifications of any size)
    // instead of being held to the bound above.
    void this.learner().then(
      (l) => {
        this.eventsWaitingForOpen -= eventCount;
        this.ingestInto(l, params);
      },
      (err: unknown) => {
        this.eventsWaitingForOpen -= eventCount;
        this.wire.invalidBatches++;
        this.log.error({ err }, 'telemetry/events dropped: the learner could not open');
      },
    );
  }

  private ingestInto(learner: ContinuousLearner, params: unknown): void {
    this.wire.batches++;
    try {
      learner.ingest(params);
    } catch (err) {
      this.wire.invalidBatches++;
      this.invalidSinceLog++;
      const now = Date.now();
      if (now - this.lastInvalidLog >= 1000) {
        this.lastInvalidLog = now;
        this.log.warn(
          { invalidBatches: this.invalidSinceLog, invalidTotal: this.wire.invalidBatches, err: (err as Error).message },
          'invalid telemetry/events batch dropped',
        );
        this.invalidSinceLog = 0;
      }
    }
  }

  /** Stops the scheduler (aborting running optimizations), flushes and closes the store. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const l = this.value ?? (await this.opening?.catch(() => undefined));
      if (!l) return;
      // The store first: stopping the scheduler waits for running optimizations to notice the
      // abort, which could outlast the exit deadline; acknowledged-or-not, events go to disk now.
      await l.flush().catch((err: unknown) => this.log.error({ err }, 'telemetry store flush at exit failed'));
      await l.close();
      await this.unlock?.();
    })();
    return this.closing;
  }
}
