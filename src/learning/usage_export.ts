// `telemetry/export`: usage over a time window, in the shape the seed's
// collect_recent_usage_data reads (success_rate, new_examples, per-pipeline stats, durations).
//
// Definitions:
//   window        since <= record.time <= until (record.time is the client's event time)
//   successes     records with success === true (status "success"); failures = total - successes
//                 (partial counts as a failure)
//   success_rate  successes / total, or null when total is 0 (no evidence either way)
//   new_examples  distinct (pipeline, canonical input hash) among records with
//                 quality >= exampleThreshold (8.0 by default) - the executions that would
//                 become training examples; the top level is the sum over pipelines
//   duration_ms   nearest-rank p50/p95 (percentile.ts) over records that carry a duration;
//                 null when none does
import * as z from 'zod';
import type { ExecutionRecord } from '../store/execution_record.js';
import { parseTimeSpec } from '../util/time_spec.js';
import { percentileSorted } from '../util/percentile.js';
import { canonicalJson } from '../util/canonical_json.js';

export const ExportQuerySchema = z.object({
  since: z.union([z.string(), z.number()]),
  until: z.union([z.string(), z.number()]).optional(),
  pipeline: z.string().optional(),
});
export type ExportQuery = z.infer<typeof ExportQuerySchema>;

export interface DurationStats {
  p50: number | null;
  p95: number | null;
}
export interface PipelineUsage {
  count: number;
  successes: number;
  failures: number;
  success_rate: number | null;
  new_examples: number;
  duration_ms: DurationStats;
}
export interface UsageReport {
  since: string;
  until: string;
  total: number;
  successes: number;
  failures: number;
  success_rate: number | null;
  new_examples: number;
  pipelines: Record<string, PipelineUsage>;
  duration_ms: DurationStats;
}

export interface ExportOptions {
  now?: number;
  exampleThreshold?: number;
}

class Acc {
  count = 0;
  successes = 0;
  durations: number[] = [];
  examples = new Set<string>();
}

function durationStats(values: number[]): DurationStats {
  const sorted = Float64Array.from(values).sort();
  return { p50: percentileSorted(sorted, 50), p95: percentileSorted(sorted, 95) };
}

/** Builds the report from any stream of records (the store's, or a test's array). */
export async function computeUsage(
  records: AsyncIterable<ExecutionRecord> | Iterable<ExecutionRecord>,
  query: ExportQuery,
  opts: ExportOptions = {},
): Promise<UsageReport> {
  const q = ExportQuerySchema.parse(query);
  const now = opts.now ?? Date.now();
  const threshold = opts.exampleThreshold ?? 8.0;
  const since = parseTimeSpec(q.since, now);
  const until = q.until === undefined ? now : parseTimeSpec(q.until, now);
  const per = new Map<string, Acc>();
  for await (const r of records as AsyncIterable<ExecutionRecord>) {
    if (r.time < since || r.time > until) continue;
    if (q.pipeline !== undefined && r.pipeline !== q.pipeline) continue;
    let a = per.get(r.pipeline);
    if (!a) per.set(r.pipeline, (a = new Acc()));
    a.count++;
    if (r.success) a.successes++;
    if (r.duration_ms !== null) a.durations.push(r.duration_ms);
    // distinct canonical inputs (the JSON text itself: no need to hash for counting)
    if (r.quality >= threshold) a.examples.add(canonicalJson(r.input ?? null));
  }
  const pipelines: Record<string, PipelineUsage> = {};
  let total = 0;
  let successes = 0;
  let newExamples = 0;
  const all: number[] = [];
  for (const name of [...per.keys()].sort()) {
    const a = per.get(name)!;
    total += a.count;
    successes += a.successes;
    newExamples += a.examples.size;
    for (const d of a.durations) all.push(d);
    pipelines[name] = {
      count: a.count,
      successes: a.successes,
      failures: a.count - a.successes,
      success_rate: a.count ? a.successes / a.count : null,
      new_examples: a.examples.size,
      duration_ms: durationStats(a.durations),
    };
  }
  return {
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    total,
    successes,
    failures: total - successes,
    success_rate: total ? successes / total : null,
    new_examples: newExamples,
    pipelines,
    duration_ms: durationStats(all),
  };
}
