import type { Logger } from 'pino';
import type { LMRegistry } from '../lm_factory/registry.js';
import type { Peer } from '../rpc/peer.js';
import type { Lifecycle } from './lifecycle.js';
import { defaultLMSpec } from './default_lm.js';
import { LearningService } from './learning_service.js';
import { RunRegistry } from './run_registry.js';

/** A set of names (optimizers, LM providers, metrics) that `initialize` reports as capabilities. */
export class NameRegistry {
  private readonly names = new Set<string>();
  register(...names: string[]): this {
    for (const n of names) this.names.add(n);
    return this;
  }
  has(name: string): boolean {
    return this.names.has(name);
  }
  list(): string[] {
    return [...this.names].sort();
  }
}

/**
 * State shared by every method handler, built once, on first use, per sidecar process.
 * Other parts add their fields here (LM factory and usage, execution store, run registry...),
 * preferably built lazily with `lazy()` so `ping` and `initialize` never pay for them, and
 * register teardown with `onDispose` so stdin EOF / SIGTERM / `exit` flush them.
 */
export interface Services {
  logger: Logger;
  /** The sidecar's own lifecycle (used by initialize/shutdown/exit). */
  lifecycle: Lifecycle;
  /** What this sidecar really has: reported by `initialize` in `capabilities`. */
  registries: {
    optimizers: NameRegistry;
    lmProviders: NameRegistry;
    metrics: NameRegistry;
  };
  /**
   * One ManagedLM per spec (shared cache and usage), built on first use. Async so the LM
   * stack (the Anthropic SDK among it) loads on the first LM call, not at cold start.
   */
  lms: () => Promise<LMRegistry>;
  /** The LM spec used when a request names none (see default_lm.ts). */
  defaultLM: string;
  /** Optimizations in progress, by run id (their meters attribute `lm/generate` calls). */
  runs: RunRegistry;
  /**
   * Requests and notifications to Elixir, for work that runs outside any request (scheduled
   * re-optimizations call `pipeline/execute`; promotions send `learning/promoted`).
   */
  peer: Peer;
  /** Data directory (`serve --data-dir`, `ELEXIRION_DATA_DIR`, else `<cwd>/.elexirion`). */
  dataDir: string;
  /**
   * Resolves once every inbound notification that arrived before the call has been handled
   * (the notification queue runs them in arrival order): `telemetry/flush` waits on it.
   */
  notificationBarrier: () => Promise<void>;
  /** Continuous learning (telemetry store, scheduler, promotion guard); opens lazily. */
  learning: LearningService;
  /** Runs `fn` at shutdown (last registered first), within the exit deadline. */
  onDispose(fn: () => unknown): void;
  /** Runs every disposer; errors are logged, never thrown. */
  dispose(): Promise<void>;
}

/** Every service but learning: what the learning service (and a run it starts) is built from. */
export type CoreServices = Omit<Services, 'learning'>;

export const OPTIMIZER_NAMES = ['LabeledFewShot', 'BootstrapFewShot', 'BootstrapFewShotWithRandomSearch', 'MIPROv2', 'GEPA'];
export const METRIC_NAMES = ['exact_match', 'findings_f1', 'valid_json', 'code_analysis_judge', 'refactoring_judge', 'composite'];

export interface ServicesOptions {
  logger: Logger;
  lifecycle: Lifecycle;
  peer: Peer;
  dataDir: string;
  notificationBarrier?: () => Promise<void>;
}

/** Memoizes a factory: the value is built on first call. */
export function lazy<T>(factory: () => T): () => T {
  let built = false;
  let value: T;
  return () => {
    if (!built) {
      value = factory();
      built = true;
    }
    return value;
  };
}

export function createServices(opts: ServicesOptions): Services {
  const disposers: Array<() => unknown> = [];
  const { logger } = opts;
  const core: CoreServices = {
    logger,
    lifecycle: opts.lifecycle,
    registries: {
      // Names only: the modules load on first use. A test keeps these lists equal to the real ones.
      optimizers: new NameRegistry().register(...OPTIMIZER_NAMES),
      lmProviders: new NameRegistry().register('anthropic', 'openai', 'offline', 'dummy', 'cassette'),
      metrics: new NameRegistry().register(...METRIC_NAMES),
    },
    lms: lazy(async () => {
      const [{ LMRegistry }, { PipelineDemoLM }] = await Promise.all([
        import('../lm_factory/registry.js'),
        import('../pipeline/offline.js'),
      ]);
      return new LMRegistry({ logger, offline: (dummy) => new PipelineDemoLM(dummy, 'offline') });
    }),
    defaultLM: defaultLMSpec(),
    runs: new RunRegistry(),
    peer: opts.peer,
    dataDir: opts.dataDir,
    notificationBarrier: opts.notificationBarrier ?? (() => Promise.resolve()),
    onDispose(fn) {
      disposers.push(fn);
    },
    async dispose() {
      while (disposers.length) {
        const fn = disposers.pop()!;
        try {
          await fn();
        } catch (err) {
          logger.error({ err }, 'service disposal failed');
        }
      }
    },
  };
  // The learning service reaches the other services (LMs, runs, peer, disposal), never itself.
  return { ...core, learning: new LearningService(core) };
}
