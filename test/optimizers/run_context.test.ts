// What every optimizer run shares (src/optimizers/run.ts), as a caller sees it: the best so far
// (first best wins ties), a stop becomes a clean cut-short return with the reason, provider
// faults end the run cleanly, the report, progress, and program.json next to the journal.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { BudgetExceededError } from '../../src/lm/budget.js';
import { Meter } from '../../src/lm/meter.js';
import { AbortedError, runCompile, RunContext, type ProgressEvent } from '../../src/optimizers/index.js';
import { isTransientFault, stopReason } from '../../src/optimizers/run.js';
import { RunStopped } from '../../src/optimizers/types.js';
import { exact, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

const fault = (message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name: 'LMError', retryable: true, kind: 'rate_limit', ...extra });
const ctx = (signal?: AbortSignal, listener?: (e: ProgressEvent) => void) => new RunContext(new Meter({}), 0, 1, signal, listener, undefined);
const args = { optimizer: 'Test', opts: { trainset: qa(2), metric: exact }, config: {} };

describe('RunContext', () => {
  it('keeps the first best score: a later equal score does not replace it, a higher one does', () => {
    const c = ctx();
    const a = new QA();
    const b = new QA();
    const d = new QA();
    expect(c.offer(a, 50)).toBe(true);
    expect(c.offer(b, 50)).toBe(false);
    expect(c.bestProgram).toBe(a);
    expect(c.offer(d, 40)).toBe(false);
    expect(c.offer(b, 60)).toBe(true);
    expect([c.bestProgram, c.bestScore]).toEqual([b, 60]);
  });

  it('a first score of 0 is still kept as best', () => {
    const c = ctx();
    const a = new QA();
    expect(c.offer(a, 0)).toBe(true);
    expect(c.bestProgram).toBe(a);
  });

  it('stops on budget, abort and RunStopped, and on any error once the run is aborted; not on other errors', () => {
    const c = ctx();
    expect(c.isStop(new BudgetExceededError('calls', 1, 1))).toBe(true);
    expect(c.isStop(new AbortedError())).toBe(true);
    expect(c.isStop(new RunStopped('done'))).toBe(true);
    expect(c.isStop(fault('429'))).toBe(true);
    expect(c.isStop(Object.assign(new Error('x'), { name: 'BudgetExceededError' }))).toBe(true); // another copy of the module
    expect(c.isStop(new Error('bug'))).toBe(false);
    expect(c.isStop(undefined)).toBe(false);
    const ac = new AbortController();
    ac.abort();
    expect(ctx(ac.signal).isStop(new Error('whatever the abort made the LM throw'))).toBe(true);
  });

  it('RunStopped carries its reason and, when given, the error that caused it', () => {
    const cause = new Error('disk full');
    const stopped = new RunStopped('no space', cause);
    expect([stopped.name, stopped.reason, stopped.cause]).toEqual(['RunStopped', 'no space', cause]);
    expect(stopped).toBeInstanceOf(Error);
    expect('cause' in new RunStopped('done')).toBe(false);
  });

  it('checkStop throws once the signal aborts, with the reason', () => {
    const ac = new AbortController();
    const c = ctx(ac.signal);
    expect(() => c.checkStop()).not.toThrow();
    ac.abort(new Error('user'));
    expect(() => c.checkStop()).toThrow(AbortedError);
    expect(() => c.checkStop()).toThrow(/aborted: user/);
  });

  it('progress events carry the usage so far; a throwing listener is ignored', () => {
    const seen: ProgressEvent[] = [];
    ctx(undefined, (e) => seen.push(e)).progress({ phase: 'trial', trial: 1 });
    expect(seen).toEqual([{ phase: 'trial', trial: 1, calls: 0, costUsd: 0 }]);
    expect(() =>
      ctx(undefined, () => {
        throw new Error('listener');
      }).progress({ phase: 'x' }),
    ).not.toThrow();
  });

  it('the report holds scores, bootstrapped count and errors only when known', () => {
    const c = ctx();
    expect(c.report('T')).toEqual(expect.objectContaining({ optimizer: 'T', cutShort: false, seed: 0, errors: 0, trials: [] }));
    expect(c.report('T')).not.toHaveProperty('bestScore');
    expect(c.report('T')).not.toHaveProperty('baselineScore');
    expect(c.report('T')).not.toHaveProperty('bootstrapped');
    c.baselineScore = 0;
    c.offer(new QA(), 0);
    c.bootstrapped = 0;
    expect(c.report('T')).toMatchObject({ baselineScore: 0, bestScore: 0, bootstrapped: 0 });
  });
});

describe('transient provider faults', () => {
  it('are retryable LM errors other than an abort', () => {
    expect(isTransientFault(fault('429'))).toBe(true);
    expect(isTransientFault(fault('x', { retryable: false }))).toBe(false);
    expect(isTransientFault(fault('x', { kind: 'aborted' }))).toBe(false);
    expect(isTransientFault(fault('x', { name: 'Error' }))).toBe(false);
    expect(isTransientFault(null)).toBe(false);
  });

  it('name the reason a run stopped', () => {
    expect(stopReason(new BudgetExceededError('calls', 3, 3), undefined)).toMatch(/^budget: /);
    expect(stopReason(fault('overloaded'), undefined)).toBe('provider: overloaded');
    const ac = new AbortController();
    ac.abort(fault('rate limited'));
    expect(stopReason(new Error('aborted call'), ac.signal)).toBe('provider: rate limited');
    const plain = new AbortController();
    plain.abort();
    expect(stopReason(new Error('x'), plain.signal)).toBe('aborted');
    expect(stopReason(new AbortedError(), undefined)).toBe('aborted');
    expect(stopReason(new RunStopped('enough'), undefined)).toBe('run stopped: enough');
    expect(stopReason('text', undefined)).toBe('text');
  });
});

describe('runCompile', () => {
  it('marks the result compiled, reports done with the best score, and saves program.json in runDir', async () => {
    const runDir = join(mkdtempSync(join(tmpdir(), 'runc-')), 'run');
    const events: ProgressEvent[] = [];
    const { program, report } = await runCompile(
      { ...args, opts: { ...args.opts, runDir, onProgress: (e) => events.push(e) } },
      async (c) => {
        const p = new QA();
        c.offer(p, 42);
        return p;
      },
      () => new QA(),
    );
    expect(program.compiled).toBe(true);
    expect(report).toMatchObject({ optimizer: 'Test', cutShort: false, bestScore: 42 });
    expect(report).not.toHaveProperty('cutShortReason');
    expect(events.at(-1)).toMatchObject({ phase: 'done', bestScore: 42 });
    expect(existsSync(join(runDir, 'program.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(runDir, 'program.json'), 'utf8'))).toHaveProperty('predict');
  });

  it('a stop returns the fallback, compiled and saved, with cutShort and the reason', async () => {
    const runDir = join(mkdtempSync(join(tmpdir(), 'runc-')), 'run');
    const events: ProgressEvent[] = [];
    const fallback = new QA();
    const { program, report } = await runCompile(
      { ...args, opts: { ...args.opts, runDir, onProgress: (e) => events.push(e) } },
      async (c) => {
        c.offer(new QA(), 10);
        throw fault('overloaded');
      },
      () => fallback,
    );
    expect(program).toBe(fallback);
    expect(program.compiled).toBe(true);
    expect(report).toMatchObject({ cutShort: true, cutShortReason: 'provider: overloaded', bestScore: 10 });
    expect(events.at(-1)).toMatchObject({ phase: 'cut_short', message: 'provider: overloaded', bestScore: 10 });
    expect(existsSync(join(runDir, 'program.json'))).toBe(true);
  });

  it('any other error is thrown to the caller', async () => {
    const bug = new Error('bug');
    await expect(
      runCompile(args, async () => {
        throw bug;
      }, () => new QA()),
    ).rejects.toBe(bug);
  });

  it('follows the caller signal, already aborted or aborted later, and leaves the caller signal alone', async () => {
    const early = new AbortController();
    early.abort();
    const r1 = await runCompile({ ...args, opts: { ...args.opts, signal: early.signal } }, async (c) => {
      c.checkStop();
      return new QA();
    }, () => new QA());
    expect(r1.report).toMatchObject({ cutShort: true, cutShortReason: 'aborted' });

    const later = new AbortController();
    let seen: AbortSignal | undefined;
    const r2 = await runCompile({ ...args, opts: { ...args.opts, signal: later.signal } }, async (c) => {
      seen = c.signal;
      expect(settings.current().signal).toBe(c.signal); // reaches the LM calls through the context
      later.abort(new Error('user'));
      c.checkStop();
      return new QA();
    }, () => new QA());
    expect(r2.report.cutShortReason).toBe('aborted');
    expect(seen?.aborted).toBe(true);
    expect(seen).not.toBe(later.signal);
  });

  it('uses the seed and concurrency given (concurrency at least 1), and a given meter with the given budget', async () => {
    const meter = new Meter({});
    let got: RunContext | undefined;
    await runCompile({ ...args, opts: { ...args.opts, seed: 9, concurrency: 0, meter, budget: { maxCalls: 3 } } }, async (c) => {
      got = c;
      return new QA();
    }, () => new QA());
    expect(got?.seed).toBe(9);
    expect(got?.concurrency).toBe(1);
    expect(got?.meter).toBe(meter);
    expect(meter.budget).toEqual({ maxCalls: 3 });
  });
});
