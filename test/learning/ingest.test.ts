import { describe, it, expect, afterEach } from 'vitest';
import { TelemetryIngester, IngestValidationError, computeUsage } from '../../src/learning/index.js';
import { ExecutionStore, type ExecutionRecord } from '../../src/store/index.js';
import { hashJson } from '../../src/util/canonical_json.js';
import { Rng } from '../../src/util/rng.js';
import { parseTimeSpec } from '../../src/util/time_spec.js';
import { tempDir, execEvent } from './helpers.js';

/** A seeded stream of floats in [0, 1). */
function uniform(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.random();
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function memorySink() {
  const records: ExecutionRecord[] = [];
  return { records, append: (r: ExecutionRecord) => (records.push(r), true) };
}

describe('TelemetryIngester', () => {
  it('scores with the seed heuristic (8.5 / 7.0 / 5.0 / 2.0)', () => {
    const sink = memorySink();
    const ing = new TelemetryIngester(sink);
    ing.ingest({
      events: [
        execEvent({ time: 1, status: 'success', findings: ['a'] }),
        execEvent({ time: 2, status: 'success', findings: [] }),
        execEvent({ time: 3, status: 'ok' }),
        execEvent({ time: 4, status: 'partial' }),
        execEvent({ time: 5, status: 'error' }),
        { event: ['pipeline', 'execution', 'stop'], measurements: { success: true }, metadata: { pipeline: 'q', findings: [1] }, time: 6 },
        { event: ['pipeline', 'execution', 'stop'], measurements: {}, metadata: { pipeline: 'q' }, time: 7 },
      ],
      dropped: 0,
    });
    expect(sink.records.map((r) => r.quality)).toEqual([8.5, 7, 7, 5, 2, 8.5, 2]);
    expect(sink.records.map((r) => r.success)).toEqual([true, true, true, false, false, true, false]);
  });

  it('attaches step summaries, counts dropped/invalid/ignored, names the bad field', () => {
    const sink = memorySink();
    const ing = new TelemetryIngester(sink);
    const res = ing.ingest({
      events: [
        { event: ['pipeline', 'step', 'stop'], measurements: { duration_ms: 5, success: true }, metadata: { execution_id: 'x1', step: 'analyze' }, time: 1 },
        { event: ['pipeline', 'step', 'stop'], measurements: { duration_ms: 7 }, metadata: { execution_id: 'x1', step: 'fix', status: 'error' }, time: 2 },
        { event: ['other'], measurements: {}, metadata: {}, time: 2 },
        { event: 'nope', time: 'x' },
        { event: ['pipeline', 'execution', 'stop'], measurements: {}, metadata: {}, time: 3 }, // no pipeline
        execEvent({ id: 'x1', time: 4, duration: 12 }),
      ],
      dropped: 42,
    });
    expect(res).toEqual({ events: 6, executions: 1, accepted: 1, shed: 0, invalid: 2 });
    expect(sink.records[0]!.steps).toEqual([
      { name: 'analyze', success: true, duration_ms: 5 },
      { name: 'fix', success: false, duration_ms: 7 },
    ]);
    expect(sink.records[0]!.duration_ms).toBe(12);
    expect(ing.stats()).toMatchObject({ clientDropped: 42, invalidEvents: 2, ignoredEvents: 1, stepEvents: 2 });
    expect(() => ing.ingest({ events: 'x', dropped: 0 })).toThrow(IngestValidationError);
    try {
      ing.ingest({ events: [], dropped: -1 });
    } catch (e) {
      expect((e as IngestValidationError).path).toBe('dropped');
    }
  });

  it('reads the Elixir client\'s events (pipeline_name, "ok", wire result) and skips optimizer trials', () => {
    const sink = memorySink();
    const ing = new TelemetryIngester(sink);
    const meta = { pipeline_name: 'review', run_id: null, candidate_id: null, example_id: null, executor: 'PipelineEx', input: { file: 'a.ex' } };
    ing.ingest({
      events: [
        {
          event: ['pipeline', 'execution', 'stop'],
          measurements: { duration: 123_456_789, duration_ms: 123.4 },
          metadata: {
            ...meta,
            status: 'ok',
            success: true,
            result: {
              status: 'ok',
              steps: { analyze: { success: true, durationMs: 100, text: '...' }, fix: { success: false } },
              output: { findings: ['unused var'] },
              durationMs: 123,
            },
          },
          time: 10,
        },
        { event: ['pipeline', 'execution', 'exception'], measurements: { duration_ms: 5 }, metadata: { ...meta, kind: 'error', reason: 'boom' }, time: 11 },
        { event: ['pipeline', 'execution', 'stop'], measurements: {}, metadata: { ...meta, run_id: 'r1', candidate_id: 'c3', status: 'ok', result: { status: 'ok' } }, time: 12 },
        { event: ['pipeline', 'execution', 'start'], measurements: {}, metadata: meta, time: 9 },
      ],
      dropped: 0,
    });
    expect(sink.records).toHaveLength(2);
    expect(sink.records[0]).toMatchObject({
      pipeline: 'review',
      execution_id: null,
      status: 'success',
      success: true,
      duration_ms: 123.4,
      quality: 8.5,
      input: { file: 'a.ex' },
      steps: [
        { name: 'analyze', success: true, duration_ms: 100 },
        { name: 'fix', success: false, duration_ms: null },
      ],
    });
    expect(sink.records[1]).toMatchObject({ status: 'exception', success: false, quality: 2, duration_ms: 5 });
    expect(ing.stats()).toMatchObject({ optimizerTrials: 1, ignoredEvents: 1 });
  });

  it('bounds the steps waiting for their execution', () => {
    const ing = new TelemetryIngester(memorySink(), { maxPendingExecutions: 10 });
    const events = Array.from({ length: 100 }, (_, i) => ({
      event: ['pipeline', 'step', 'stop'],
      measurements: {},
      metadata: { execution_id: 'e' + i, step: 's' },
      time: i,
    }));
    ing.ingest({ events, dropped: 0 });
    expect(ing.stats().evictedPendingSteps).toBe(90);
  });
});

describe('parseTimeSpec', () => {
  it('reads relative, ISO and unix forms', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    expect(parseTimeSpec('24h', now)).toBe(now - 86_400_000);
    expect(parseTimeSpec('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseTimeSpec('30m', now)).toBe(now - 1_800_000);
    expect(parseTimeSpec('2026-01-01T00:00:00Z', now)).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parseTimeSpec(123, now)).toBe(123);
    expect(() => parseTimeSpec('yesterday', now)).toThrow(/invalid time/);
  });
});

describe('export', () => {
  it('matches a brute-force computation over the same random events', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const store = await ExecutionStore.open({ dir: t.dir, segmentMaxBytes: 64 * 1024 });
    const ing = new TelemetryIngester(store);
    const rng = uniform(7);
    const now = Date.parse('2026-02-01T00:00:00Z');
    const statuses = ['success', 'success', 'success', 'partial', 'error'];
    const events = [];
    for (let i = 0; i < 3000; i++) {
      events.push(
        execEvent({
          pipeline: ['alpha', 'beta', 'gamma'][Math.floor(rng() * 3)],
          id: 'e' + i,
          status: statuses[Math.floor(rng() * statuses.length)],
          findings: rng() < 0.5 ? ['f'] : [],
          duration: rng() < 0.95 ? Math.floor(rng() * 5000) : undefined,
          time: now - Math.floor(rng() * 3 * 86_400_000),
          input: { q: Math.floor(rng() * 400) }, // repeats: dedup matters
        }),
      );
    }
    // telemetry arrives roughly in time order, so segment time ranges are narrow and the
    // windowed scan really skips segments; a few late events keep it honest
    events.sort((a, b) => a.time - b.time);
    for (let i = 0; i < 30; i++) events.push({ ...events[i * 7]!, time: now - Math.floor(rng() * 86_400_000) });
    for (let i = 0; i < events.length; i += 100) ing.ingest({ events: events.slice(i, i + 100), dropped: 0 });
    await store.flush();

    for (const q of [{ since: '24h' }, { since: '48h', until: '2026-01-31T12:00:00Z' }, { since: '7d', pipeline: 'beta' }]) {
      const got = await computeUsage(store.records(), q, { now });
      // the time-indexed scan the learner uses gives the same report
      const window = { minTime: parseTimeSpec(q.since, now), maxTime: q.until ? Date.parse(q.until) : now };
      expect(await computeUsage(store.records(undefined, window), q, { now })).toEqual(got);
      // brute force over the raw events
      const since = parseTimeSpec(q.since, now);
      const until = q.until ? Date.parse(q.until) : now;
      const inWin = events.filter((e) => e.time >= since && e.time <= until && (!q.pipeline || e.metadata.pipeline === q.pipeline));
      const nearest = (xs: number[], p: number) => {
        if (!xs.length) return null;
        const s = [...xs].sort((a, b) => a - b);
        // nearest rank: smallest value with at least p% of values <= it
        for (const v of s) if (s.filter((x) => x <= v).length >= (p / 100) * s.length) return v;
        return s[s.length - 1]!;
      };
      const summarize = (es: typeof inWin) => {
        const ok = es.filter((e) => e.metadata.result.status === 'success');
        const good = ok.filter((e) => ((e.metadata.result as { findings?: unknown[] }).findings ?? []).length > 0);
        const ds = es.flatMap((e) => ('duration_ms' in e.measurements ? [e.measurements.duration_ms as number] : []));
        return {
          count: es.length,
          successes: ok.length,
          failures: es.length - ok.length,
          success_rate: es.length ? ok.length / es.length : null,
          new_examples: new Set(good.map((e) => hashJson(e.metadata.input))).size,
          duration_ms: { p50: nearest(ds, 50), p95: nearest(ds, 95) },
        };
      };
      const names = [...new Set(inWin.map((e) => e.metadata.pipeline))].sort();
      const per = Object.fromEntries(names.map((n) => [n, summarize(inWin.filter((e) => e.metadata.pipeline === n))]));
      const whole = summarize(inWin);
      expect(got).toEqual({
        since: new Date(since).toISOString(),
        until: new Date(until).toISOString(),
        total: whole.count,
        successes: whole.successes,
        failures: whole.failures,
        success_rate: whole.success_rate,
        new_examples: Object.values(per).reduce((a, p) => a + p.new_examples, 0),
        pipelines: per,
        duration_ms: whole.duration_ms,
      });
      expect(got.total).toBeGreaterThan(100);
    }
    await store.close();
  });
});
