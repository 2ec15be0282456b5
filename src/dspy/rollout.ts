/**
 * Rollout ids for repeated samples: sample i of a call whose rollout id is `base` gets
 * `base + i` (a numeric base; none counts as 0, as DSPy's `lm.kwargs.get("rollout_id", 0)`),
 * or `base:i` for a string base. Distinct ids are distinct cache keys, so each sample is fresh.
 */
export function rolloutIdAt(base: string | number | undefined, i: number): string | number {
  if (base === undefined) return i;
  return typeof base === 'number' ? base + i : `${base}:${i}`;
}
