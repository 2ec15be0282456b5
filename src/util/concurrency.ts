/**
 * Bounded concurrency, one module for the tree:
 * - `runOrdered` / `allInOrder`: tasks run concurrently, outcomes committed in index order (the
 *   optimizers: concurrent work that still gives the sequential answer);
 * - `Slots`: a FIFO pool of `limit` slots shared by several loops (bootstrap walks, the pipeline
 *   executor's limit on executions in flight);
 * - `mapConcurrent`: an order-keeping bounded map (DSPy's `batch`).
 *
 * Why not p-limit / p-map: `runOrdered` commits in index order and stops launching at the
 * first stop decision (a quota, max errors, a fatal error), and `mapConcurrent` starts no new
 * call after the first error and checks its abort signal before each launch; p-limit keeps
 * running queued work after a rejection and has neither. `Slots` alone could be a p-limit
 * (it can be widened too), but it is the same 25-line FIFO hand-off, and one module with no
 * second pool implementation beside it is the point of this file.
 */

/**
 * Order-preserving concurrency: run `task(i)` for i = 0..count-1 with at most `limit` in
 * flight, and hand the outcomes to `commit` strictly in index order, whatever order they finish
 * in. This is how concurrent work still gives the sequential answer: every decision (stop at a
 * quota, raise after max errors) is taken in `commit`, in order, so tasks that ran
 * speculatively past the stopping point are simply never committed.
 */

export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface RunOrderedOptions {
  /** Max tasks in flight (>= 1). */
  limit: number;
  /** Checked before each launch: return false to stop launching (tasks in flight still commit). */
  mayLaunch?: (nextIndex: number) => boolean;
  /**
   * Errors that end the whole run at once, uncommitted (budget, abort): launching stops, the
   * tasks in flight are awaited, then the error is thrown.
   */
  isFatal?: (error: unknown) => boolean;
}

/**
 * `commit` returns 'stop' to end early. Resolves when every launched task has settled, so no
 * work outlives the call. A `commit` that throws ends the run the same way and rethrows.
 */
export async function runOrdered<R>(
  count: number,
  task: (index: number) => Promise<R>,
  commit: (index: number, outcome: Settled<R>) => 'continue' | 'stop',
  opts: RunOrderedOptions,
): Promise<void> {
  const limit = Math.max(1, Math.floor(opts.limit));
  const done = new Map<number, Settled<R>>();
  let nextLaunch = 0;
  let nextCommit = 0;
  let inFlight = 0;
  let stopped = false;
  let failure: { error: unknown } | undefined;

  return new Promise<void>((resolve, reject) => {
    const finishIfIdle = () => {
      if (inFlight > 0) return;
      if (failure) reject(failure.error);
      else resolve();
    };

    const drain = () => {
      while (!stopped && done.has(nextCommit)) {
        const outcome = done.get(nextCommit) as Settled<R>;
        done.delete(nextCommit);
        const index = nextCommit;
        nextCommit += 1;
        try {
          if (commit(index, outcome) === 'stop') stopped = true;
        } catch (err) {
          stopped = true;
          failure = { error: err };
        }
      }
      if (!stopped && nextCommit >= count) stopped = true;
    };

    const launch = () => {
      while (!stopped && inFlight < limit && nextLaunch < count) {
        if (opts.mayLaunch && !opts.mayLaunch(nextLaunch)) break;
        const index = nextLaunch;
        nextLaunch += 1;
        inFlight += 1;
        let p: Promise<R>;
        try {
          p = task(index);
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(
          (value) => settle(index, { ok: true, value }),
          (error) => settle(index, { ok: false, error }),
        );
      }
      if (stopped || (inFlight === 0 && nextCommit >= count)) finishIfIdle();
      else if (inFlight === 0 && nextLaunch < count) {
        // mayLaunch refused with nothing in flight: nothing can change its mind; stop.
        stopped = true;
        finishIfIdle();
      }
    };

    const settle = (index: number, outcome: Settled<R>) => {
      inFlight -= 1;
      // Once a commit has ended the run, the tasks still in flight are never committed: a stop
      // error one of them meets (budget, abort of the speculation) must not fail a finished run.
      if (!outcome.ok && !stopped && opts.isFatal?.(outcome.error)) {
        if (!failure) failure = { error: outcome.error };
        stopped = true;
      }
      if (!stopped) {
        done.set(index, outcome);
        drain();
      }
      if (stopped) finishIfIdle();
      else launch();
    };

    if (count <= 0) {
      resolve();
      return;
    }
    launch();
  });
}

/**
 * A pool of `limit` slots shared by several concurrent loops (bootstrap walks built side by
 * side), so together they never have more than `limit` tasks running.
 */
export class Slots {
  private free: number;
  private limit: number;
  private readonly waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.limit = Math.max(1, Math.floor(limit));
    this.free = this.limit;
  }

  /** Raises the limit (work that ran in the background gets the whole pool). */
  widen(limit: number): void {
    const more = Math.floor(limit) - this.limit;
    if (more <= 0) return;
    this.limit += more;
    this.free += more;
    while (this.free > 0 && this.waiting.length > 0) {
      this.free -= 1;
      (this.waiting.shift() as () => void)();
    }
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.free += 1;
    }
  }
}

/**
 * Runs `count` independent jobs at once (each limits its own work; pass them a shared Slots),
 * or one after the other at concurrency 1, and hands their results to `commit` in index order,
 * as a sequential loop would. The first job to fail in index order ends the run with its error
 * once every job has settled.
 */
export async function allInOrder<R>(
  count: number,
  concurrency: number,
  job: (index: number) => Promise<R>,
  commit: (index: number, value: R) => void,
  isFatal: (error: unknown) => boolean,
): Promise<void> {
  await runOrdered<R>(
    count,
    job,
    (i, settled) => {
      if (!settled.ok) throw settled.error;
      commit(i, settled.value);
      return 'continue';
    },
    { limit: concurrency > 1 ? Math.max(1, count) : 1, isFatal },
  );
}

/** Options of {@link mapConcurrent}: a map with bounded concurrency that keeps input order (results[i] belongs to items[i]). */
export interface MapConcurrentOptions {
  /** Calls in flight at most (default 8). */
  concurrency?: number;
  /** Aborting it stops new calls from starting. */
  signal?: AbortSignal;
}

/**
 * Run `fn` over `items` with at most `concurrency` calls in flight. Rejects with the first
 * error (no new calls start after it; calls in flight are left to finish on their own).
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
  options: MapConcurrentOptions = {},
): Promise<R[]> {
  const limit = Math.max(1, Math.floor(options.concurrency ?? 8));
  const { signal } = options;
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      signal?.throwIfAborted();
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(limit, items.length); w++) workers.push(worker());
  await Promise.all(workers);
  return results;
}
