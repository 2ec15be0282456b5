// `evaluate`: the pipeline as written scored on every example, results under the training
// data's ids; a provider fault seen by a call made elsewhere for the run is what the caller gets.
import { describe, expect, it } from 'vitest';
import { LMError } from '../../src/lm/errors.js';
import { evaluateRun, RunFaults, type RunHost } from '../../src/run/index.js';
import type { RunProgress } from '../../src/protocol/run.js';
import { codeAnalysisParams, inProcessHost, rateLimited } from './helpers.js';

describe('evaluateRun', () => {
  it('scores every example (not only a held-out part), reporting each under its training-data id', async () => {
    const host = inProcessHost();
    const progress: RunProgress[] = [];
    host.progress = (v) => progress.push(v);
    const r = await evaluateRun(codeAnalysisParams(), host);
    expect(host.executions).toBe(r.results.length);
    expect(r.results.length).toBeGreaterThan(6);
    expect(r.results[0]!.exampleId).toBe('ca01-agent-unsupervised');
    expect(r.results.every((x) => typeof x.exampleId === 'string' && x.error === undefined)).toBe(true);
    const mean = (100 * r.results.reduce((a, x) => a + x.score, 0)) / r.results.length;
    expect(r.score).toBeCloseTo(mean, 1);
    expect(progress.filter((p) => p.phase === 'evaluate')).toHaveLength(r.results.length);
    expect(r.usage.calls).toBeGreaterThan(0);
  });

  it('inline examples without ids are reported by position; failed executions carry their error', async () => {
    const host = inProcessHost(async () => ({ status: 'error', steps: {}, output: null, durationMs: 1, error: 'boom' }));
    const params = codeAnalysisParams({
      trainingData: { examples: [{ input: { code: 'a' }, expected_output: { findings: [] } }, { input: { code: 'b' }, expected_output: { findings: [] } }] },
    });
    const r = await evaluateRun(params, host);
    expect(r.results.map((x) => x.exampleId)).toEqual([0, 1]);
    expect(r.results.every((x) => /boom/.test(x.error ?? ''))).toBe(true);
  });

  it('a provider fault reported for the run stops it and is what the caller gets', async () => {
    const base = inProcessHost();
    let faults: RunFaults | undefined;
    const host: RunHost = {
      ...base,
      track: (_runId, run, fn) => {
        faults = run.faults;
        return fn();
      },
      executorFor: () => async () => {
        // An LM call Elixir made for this run failed for good: the sidecar reports it.
        faults?.report(rateLimited());
        return { status: 'error', steps: {}, output: null, durationMs: 1, error: 'execution failed' };
      },
    };
    const err = await evaluateRun(codeAnalysisParams({ concurrency: 1 }), host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LMError);
    expect((err as Error).message).toMatch(/429/);
  });
});

describe('evaluateRun and its host', () => {
  it('track wraps the evaluation once under its run id, with the meter that counted its LM calls', async () => {
    const host = inProcessHost();
    const tracked: Array<{ runId: string; calls: () => number }> = [];
    host.track = async (runId, run, fn) => {
      tracked.push({ runId, calls: () => run.meter.usage.snapshot().calls });
      return fn();
    };
    const r = await evaluateRun(codeAnalysisParams({ runId: 'ev' }), host);
    expect(tracked.map((t) => t.runId)).toEqual(['ev']);
    expect(tracked[0]!.calls()).toBe(r.usage.calls);
    expect(r.usage.calls).toBe(r.results.length);
  });

  it("a cancelled evaluation throws the caller's reason, not a result", async () => {
    const ac = new AbortController();
    let n = 0;
    const host = inProcessHost(async () => {
      if (++n === 2) ac.abort(new Error('cancelled by the caller'));
      return { status: 'ok', steps: {}, output: { findings: [] }, durationMs: 1 };
    });
    host.signal = ac.signal;
    await expect(evaluateRun(codeAnalysisParams({ concurrency: 1 }), host)).rejects.toThrow('cancelled by the caller');
    expect(n).toBeLessThan(24);
  });

  it('a cancelled evaluation fails, but not as a provider fault, even when one was also seen', async () => {
    const ac = new AbortController();
    let faults: RunFaults | undefined;
    const base = inProcessHost();
    const host: RunHost = {
      ...base,
      signal: ac.signal,
      track: (_runId, run, fn) => {
        faults = run.faults;
        return fn();
      },
      executorFor: () => async () => {
        faults?.report(rateLimited());
        ac.abort(new Error('cancelled by the caller'));
        return { status: 'error', steps: {}, output: null, durationMs: 1, error: 'execution failed' };
      },
    };
    const err = await evaluateRun(codeAnalysisParams({ concurrency: 1 }), host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(LMError);
  });
});

describe('RunFaults', () => {
  it('aborts its signal with the first transient fault, and ignores other errors', () => {
    const f = new RunFaults();
    expect(f.fault).toBeUndefined();
    expect(f.report(new Error('a bug'))).toBe(false);
    expect(f.signal.aborted).toBe(false);
    const first = rateLimited();
    expect(f.report(first)).toBe(true);
    expect(f.report(rateLimited())).toBe(true);
    expect(f.signal.aborted).toBe(true);
    expect(f.fault).toBe(first);
  });

  it('every LM call in flight may listen to its signal without a listener-leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const f = new RunFaults();
      for (let i = 0; i < 50; i++) f.signal.addEventListener('abort', () => {});
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
