// Nearest-rank percentiles: the p-th percentile of n sorted values is the value at rank
// ceil(p/100 * n) (1-based), i.e. always an observed value, never an interpolation.
// p = 0 gives the minimum. An empty input has no percentile (null).

export function nearestRankIndex(p: number, n: number): number {
  if (n <= 0) return -1;
  if (p <= 0) return 0;
  return Math.min(n, Math.ceil((p / 100) * n)) - 1;
}

/** `sorted` must be ascending. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number | null {
  const i = nearestRankIndex(p, sorted.length);
  return i < 0 ? null : sorted[i]!;
}

export function percentiles(values: Iterable<number>, ps: number[]): Array<number | null> {
  const arr = Float64Array.from(values).sort();
  return ps.map((p) => percentileSorted(arr, p));
}
