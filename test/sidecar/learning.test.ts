import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';
import { serveReferenceExecutions, type FakeElixir } from '../support/fake_elixir.js';
import { initialize, sidecar, tempDataDir } from './telemetry_helpers.js';

// The learner end to end through the real sidecar: a pipeline registered at initialize, a
// re-optimization requested over the wire whose candidates run in "Elixir" (pipeline/execute,
// their LM calls back through lm/generate), the promotion guard's decision, the promoted
// notification, and the current config served to the host app.
const PIPELINE = join(ROOT, 'examples/code_analysis/pipeline.yaml');
const DATA = join(ROOT, 'examples/code_analysis/training_data');

let e: FakeElixir;
let dir: string;


const learningOptions = (guard: Record<string, unknown> = { margin: 0 }) => ({
  learning: {
    lm: 'offline',
    pipelines: {
      code_analysis: {
        path: PIPELINE,
        trainingData: DATA,
        optimizer: { name: 'BootstrapFewShot', options: { maxBootstrappedDemos: 4, maxLabeledDemos: 8 } },
        // The learner's mechanics, not the example's content metric: JSON of the right shape and severity.
        metric: {
          name: 'composite',
          options: {
            metrics: [
              { name: 'valid_json', options: { requiredKeys: ['findings', 'recommendations', 'severity'] } },
              { name: 'exact_match', options: { fields: ['severity'] } },
            ],
          },
        },
        seed: 7,
        valFraction: 0.5,
      },
    },
    guard,
    // the scheduler runs, but nothing fires during the test: runs are requested
    schedule: { timeZone: 'UTC', daily: '0 2 * * *', weekly: '0 3 * * 0', feedback: '*/10 * * * *' },
  },
});

beforeEach(() => {
  dir = tempDataDir('elexirion-learner-');
});

afterEach(async () => {
  await e?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the learner over the wire', () => {
  it('re-optimizes a registered pipeline, promotes a real improvement and serves the new config', async () => {
    e = sidecar(dir);
    serveReferenceExecutions(e);
    const init = await initialize(e, learningOptions());
    expect(init.capabilities.methods).toEqual(
      expect.arrayContaining(['telemetry/events', 'telemetry/flush', 'telemetry/export', 'learning/config', 'learning/optimize']),
    );
    await expect.poll(async () => (await e.request('learning/status', {})).result.schedulerRunning).toBe(true);
    expect((await e.request('learning/config', { pipeline: 'code_analysis' })).result).toBeNull();

    // a production execution worth keeping (quality 8.5), of another pipeline: the feedback
    // pass before the run turns it into a training example under the data dir
    e.send({
      jsonrpc: '2.0',
      method: 'telemetry/events',
      params: {
        events: [
          {
            event: ['pipeline', 'execution', 'stop'],
            measurements: { duration_ms: 12 },
            metadata: {
              pipeline: 'other',
              execution_id: 'x1',
              input: { code: 'defmodule A do end' },
              result: { status: 'success', findings: ['empty module'] },
            },
            time: Date.now(),
          },
        ],
        dropped: 0,
      },
    });

    const r = await e.request('learning/optimize', { pipeline: 'code_analysis', mode: 'light', progressToken: 'learn-1' });
    expect(r.error).toBeUndefined();
    expect(r.result, JSON.stringify(r.result)).toMatchObject({ pipeline: 'code_analysis', decision: 'promoted', version: 1 });
    expect(r.result.guard.n).toBeGreaterThanOrEqual(5);
    expect(r.result.guard.candidateMean).toBeGreaterThan(r.result.guard.currentMean);
    expect(r.result.guard.interval.lower).toBeGreaterThan(0);
    const phases = e.notifications.filter((n) => n.method === '$/progress' && n.params.token === 'learn-1').map((n) => n.params.value.phase);
    expect(phases).toEqual(expect.arrayContaining(['bootstrap', 'guard-current', 'guard-candidate']));
    // candidates ran in Elixir
    expect(e.callbacks.filter((c) => c.method === 'pipeline/execute').length).toBeGreaterThan(10);

    const promoted = e.notifications.filter((n) => n.method === 'learning/promoted');
    expect(promoted).toHaveLength(1);
    expect(promoted[0]!.params).toMatchObject({ pipeline: 'code_analysis', version: 1, ledgerId: r.result.ledgerId });
    expect(promoted[0]!.params.decision.promote).toBe(true);

    const c = await e.request('learning/config', { pipeline: 'code_analysis' });
    expect(c.result).toMatchObject({ pipeline: 'code_analysis', version: 1, ledgerId: r.result.ledgerId });
    expect(c.result.config).toEqual(promoted[0]!.params.config);
    expect(JSON.stringify(c.result.config)).toContain('### Example 1');

    // the decision is in the ledger; the production example was written for its pipeline
    const ledger = readFileSync(join(dir, 'learning', 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(ledger.at(-1)).toMatchObject({ id: r.result.ledgerId, decision: 'promoted', trigger: 'request' });
    const prodDir = join(dir, 'learning', 'training_data', 'p-other');
    expect(existsSync(prodDir) && readdirSync(prodDir).filter((f) => f.endsWith('.json'))).toHaveLength(1);

    // the promoted config survives a restart
    await e.close();
    e = sidecar(dir);
    serveReferenceExecutions(e);
    await initialize(e, learningOptions());
    const again = await e.request('learning/config', { pipeline: 'code_analysis' });
    expect(again.result).toMatchObject({ version: 1, config: c.result.config });
    // the next run starts from the promoted config (it must load as a pipeline)
    const next = await e.request('learning/optimize', { pipeline: 'code_analysis' });
    expect(next.error).toBeUndefined();
    expect(['promoted', 'rejected']).toContain(next.result.decision);
    expect(next.result.guard.currentMean).toBeCloseTo(r.result.guard.candidateMean, 5);
  });

  it('keeps the current config when the candidate does not clear the margin', async () => {
    e = sidecar(dir);
    serveReferenceExecutions(e);
    await initialize(e, learningOptions({ margin: 10 }));
    const r = await e.request('learning/optimize', { pipeline: 'code_analysis' });
    expect(r.error).toBeUndefined();
    expect(r.result.decision).toBe('rejected');
    expect(e.notifications.filter((n) => n.method === 'learning/promoted')).toHaveLength(0);
    expect((await e.request('learning/config', { pipeline: 'code_analysis' })).result).toBeNull();
  });

  it('runs a scheduled job by itself: the weekly run missed during downtime is caught up once and promotes', async () => {
    // scheduler state as a sidecar that last ran 8 days ago left it: a weekly fire time was missed
    const eightDaysAgo = Date.now() - 8 * 86_400_000;
    mkdirSync(join(dir, 'learning'), { recursive: true });
    const job = { registeredAt: eightDaysAgo, lastScheduledFor: null, lastStartedAt: null, lastFinishedAt: null, lastOutcome: null, lastError: null, runs: 0, missedRuns: 0, skippedWhileRunning: 0 };
    writeFileSync(join(dir, 'learning', 'scheduler.json'), JSON.stringify({ version: 1, jobs: { weekly: job } }));
    e = sidecar(dir);
    serveReferenceExecutions(e);
    const opts = learningOptions();
    opts.learning.schedule = { timeZone: 'UTC', daily: null, weekly: '0 3 * * 0', feedback: null } as never;
    await initialize(e, opts);
    await expect
      .poll(() => e.notifications.filter((n) => n.method === 'learning/promoted').length, { timeout: 30_000, interval: 100 })
      .toBe(1);
    const promoted = e.notifications.find((n) => n.method === 'learning/promoted')!;
    expect(promoted.params).toMatchObject({ pipeline: 'code_analysis', version: 1 });
    expect((await e.request('learning/config', { pipeline: 'code_analysis' })).result.version).toBe(1);
    const ledger = readFileSync(join(dir, 'learning', 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ mode: 'full', trigger: 'weekly', decision: 'promoted' });
    await expect.poll(async () => (await e.request('learning/status', {})).result.stats.jobs.weekly.lastOutcome).toBe('ok');
    expect((await e.request('learning/status', {})).result.stats.jobs.weekly.runs).toBe(1);
  });

  it('runs a full re-optimization (MIPROv2, auto light) when asked', async () => {
    e = sidecar(dir);
    serveReferenceExecutions(e);
    const opts = learningOptions();
    delete (opts.learning.pipelines.code_analysis as { optimizer?: unknown }).optimizer;
    await initialize(e, opts);
    const r = await e.request('learning/optimize', { pipeline: 'code_analysis', mode: 'full' });
    expect(r.error).toBeUndefined();
    expect(['promoted', 'rejected']).toContain(r.result.decision);
    expect(r.result.guard.n).toBeGreaterThanOrEqual(5);
    const ledger = readFileSync(join(dir, 'learning', 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(ledger.at(-1)).toMatchObject({ mode: 'full', decision: r.result.decision });
  });

  it('names the pipeline when it is not registered', async () => {
    e = sidecar(dir);
    await initialize(e, learningOptions());
    const r = await e.request('learning/optimize', { pipeline: 'nope' });
    expect(r.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['pipeline'] }] } });
  });
});
