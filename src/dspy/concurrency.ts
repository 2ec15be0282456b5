/** Bounded-concurrency map that keeps input order: results[i] belongs to items[i]. */

export interface MapConcurrentOptions {
  concurrency?: number;
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
