import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';
import { CountingOpenAI } from '../support/counting_openai.js';
import { FakeElixir, serveReferenceExecutions } from '../support/fake_elixir.js';

// GEPA through the real sidecar on the two-step refactoring example: every candidate runs as a
// `pipeline/execute` callback answered the way the Elixir Reference executor does (task LM:
// offline, through `lm/generate`), while the reflection LM is a distinct spec, a counting
// OpenAI-compatible server on loopback, so its calls can be seen. With the offline task LM the
// proposals need not improve anything: these tests check the machinery and its honesty.
const started: FakeElixir[] = [];
let reflector: CountingOpenAI;

beforeAll(async () => {
  reflector = await CountingOpenAI.start();
});
afterAll(async () => {
  await reflector.close();
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.close()));
});

function elixirPeer(delayMs = 0): FakeElixir {
  const e = serveReferenceExecutions(new FakeElixir(), { delayMs });
  started.push(e);
  return e;
}

const params = (outDir: string, runId: string, options: Record<string, unknown> = {}) => ({
  pipeline: { path: join(ROOT, 'examples/refactoring/pipeline.yaml') },
  trainingData: { dir: join(ROOT, 'examples/refactoring/training_data') },
  lm: 'offline',
  reflectionLm: `openai:${reflector.baseURL}#reflector`,
  optimizer: { name: 'GEPA', options: { maxMetricCalls: 30, ...options } },
  seed: 5,
  concurrency: 1,
  outDir,
  runId,
  progressToken: runId,
  writeAnyway: true, // the files are compared whatever the verdict
});

const executions = (e: FakeElixir) => e.callbacks.filter((c) => c.method === 'pipeline/execute').length;

describe('GEPA over the wire', () => {
  it('optimizes end to end: reflection through reflectionLm, the Pareto front in the result, an honest verdict', { timeout: 90_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'elexirion-gepa-'));
    const elixir = elixirPeer();
    await elixir.initialize();
    const before = reflector.requests;
    const r = await elixir.request('optimize', params(out, 'gepa-a'));
    expect(r.error).toBeUndefined();
    const res = r.result;
    // The reflection LM named by the request proposed the new instructions (one per iteration).
    const reflections = reflector.requests - before;
    expect(reflections).toBeGreaterThan(0);
    expect(reflections).toBe(res.pareto.iterations);
    const pareto = res.pareto;
    expect(pareto.candidates[0]).toMatchObject({ candidate: 0, origin: 'seed', parents: [] });
    expect(pareto.front.length).toBeGreaterThan(0);
    expect(pareto.front.map((p: { candidate: number }) => p.candidate)).toContain(pareto.selected);
    expect(pareto).toMatchObject({ rule: 'best score', selection: 'best' });
    expect(pareto.metricCalls.max).toBe(30);
    expect(pareto.metricCalls.used).toBeLessThanOrEqual(30);
    // Costs are measured per execution: two LLM steps, tokens counted by the offline LM's meter.
    expect(pareto.candidates[0].tokens).toBeGreaterThan(0);
    // GEPA's trials are in the run's record; the verdict does not claim a lift it did not see.
    expect(res.trials.some((t: { kind?: string }) => t.kind === 'baseline')).toBe(true);
    if (pareto.accepted === 0) {
      expect(pareto.warnings.join(' ')).toMatch(/no proposal was accepted/);
      expect(res.verdict.improved).toBe(false);
    }
    expect(res.verdict.lift).toBeCloseTo(res.bestScore - res.baselineScore, 2);
    const progress = elixir.notifications.filter((n) => n.method === '$/progress').map((n) => n.params.value);
    expect(progress.some((p) => p.phase === 'trial' && /GEPA: /.test(p.message ?? ''))).toBe(true);
  });

  it('dry run: an estimate and the budget warning, nothing executed', { timeout: 60_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'elexirion-gepa-dry-'));
    const elixir = elixirPeer();
    await elixir.initialize();
    const before = reflector.requests;
    const r = await elixir.request('optimize', params(out, 'gepa-dry', { maxMetricCalls: 8, dryRun: true }));
    expect(r.error).toBeUndefined();
    expect(r.result).toMatchObject({ dryRun: true, runId: 'gepa-dry' });
    expect(r.result.estimate.summary).toMatch(/^GEPA dry run: at most 8 metric calls/);
    expect(r.result.estimate.calls.total.max).toBeGreaterThan(0);
    const progress = elixir.notifications.filter((n) => n.method === '$/progress').map((n) => n.params.value);
    expect(progress.find((p) => p.phase === 'warning')?.message).toMatch(/GEPA: the budget of 8 metric calls cannot cover one full round/);
    expect(progress.some((p) => p.phase === 'dry_run')).toBe(true);
    expect(executions(elixir)).toBe(0);
    expect(reflector.requests).toBe(before);
    expect(existsSync(join(out, 'pipelines'))).toBe(false);
  });

  it('refuses a bad reflectionLm, or one for an optimizer that would ignore it, naming the field', { timeout: 60_000 }, async () => {
    const elixir = elixirPeer();
    await elixir.initialize();
    const r = await elixir.request('optimize', { ...params(mkdtempSync(join(tmpdir(), 'elexirion-gepa-no-')), 'gepa-no'), optimizer: { name: 'BootstrapFewShot' } });
    expect(r.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['reflectionLm'] }] } });
    expect(r.error?.message).toMatch(/only GEPA uses a reflection LM/);
    const bad = await elixir.request('optimize', { ...params(mkdtempSync(join(tmpdir(), 'elexirion-gepa-bad-')), 'gepa-bad'), reflectionLm: 'nowhere' });
    expect(bad.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['reflectionLm'] }] } });
    expect(executions(elixir)).toBe(0);
  });

  it('resumes after kill -9 of the sidecar with the identical program', { timeout: 120_000 }, async () => {
    const refOut = mkdtempSync(join(tmpdir(), 'elexirion-gepa-ref-'));
    const ref = elixirPeer();
    await ref.initialize();
    const uninterrupted = await ref.request('optimize', params(refOut, 'gepa-r'));
    expect(uninterrupted.error).toBeUndefined();
    const fullExecutions = executions(ref);

    const out = mkdtempSync(join(tmpdir(), 'elexirion-gepa-resume-'));
    const journal = join(out, '.elexirion/runs/gepa-r/journal.jsonl');
    const victim = elixirPeer(3);
    await victim.initialize();
    void victim.request('optimize', params(out, 'gepa-r'));
    // header, the seed candidate, at least one finished iteration
    await expect
      .poll(() => (existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').filter((l) => l.includes('gepa/iter/')).length : 0), {
        timeout: 60_000,
        interval: 20,
      })
      .toBeGreaterThan(0);
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));

    const again = elixirPeer();
    await again.initialize();
    const resumed = await again.request('optimize', params(out, 'gepa-r'));
    expect(resumed.error).toBeUndefined();
    expect(resumed.result.resumed.done).toBeGreaterThan(1);
    // Planned: 6 held-out examples scored before and after, GEPA's seed and at most
    // (30 - 6) / (2 x 3) = 4 iterations.
    const note = again.notifications.find((n) => n.method === '$/progress' && n.params.value.phase === 'resume');
    expect(note?.params.value.message).toBe(`resuming run gepa-r: ${resumed.result.resumed.done} of 17 done`);
    expect(resumed.result.trials.some((t: { resumed?: boolean }) => t.resumed)).toBe(true);
    expect(executions(again)).toBeLessThan(fullExecutions);
    expect(readFileSync(resumed.result.programPath, 'utf8')).toBe(readFileSync(uninterrupted.result.programPath, 'utf8'));
    // The same candidates, scores, costs and choice (latency is wall time: measured, not replayed).
    const noLatency = (p: { candidates: Array<Record<string, unknown>> }) => ({ ...p, candidates: p.candidates.map(({ latencyMs: _l, ...c }) => c) });
    expect(noLatency(resumed.result.pareto)).toEqual(noLatency(uninterrupted.result.pareto));
    expect(resumed.result.bestScore).toBe(uninterrupted.result.bestScore);
  });
});
