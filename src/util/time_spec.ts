// `since`/`until` arguments: ISO-8601 times, unix milliseconds, or a duration relative to now
// ("30m", "24h", "7d", "2w", "90s"), as the seed's `--since 24h` uses.
import { ElexirionError } from '../errors.js';
const RELATIVE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export class TimeSpecError extends ElexirionError {
  override readonly code: string = 'TIME_SPEC_ERROR';
}

/** Parses a time spec to unix ms; relative forms count back from `now`. */
export function parseTimeSpec(spec: string | number, now: number): number {
  if (typeof spec === 'number') {
    if (!Number.isFinite(spec)) throw new TimeSpecError(`invalid time: ${spec}`);
    return spec;
  }
  const s = spec.trim();
  const rel = RELATIVE.exec(s);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  if (/^\d+$/.test(s)) return Number(s);
  // Date.parse accepts too much (e.g. "1"); demand something that looks like an ISO date.
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const t = Date.parse(s);
    if (Number.isFinite(t)) return t;
  }
  throw new TimeSpecError(`invalid time "${spec}": expected ISO-8601, unix ms, or a duration like 30m, 24h, 7d`);
}
