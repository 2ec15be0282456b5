// Scoring on the held-out examples as a run does it: per-example scores in valset order, each
// journaled so a resumed run executes none again, and a pass that cannot support a conclusion
// (most examples unscorable, or every execution failed) stops the run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settings, type Example } from '../../src/dspy/index.js';
import { Meter } from '../../src/lm/meter.js';
import { RunContext } from '../../src/optimizers/run.js';
import { RunJournal } from '../../src/optimizers/journal.js';
import { noteUnscorable } from '../../src/pipeline/metrics/unscorable.js';
import { RunFailedError, scoreHeldOut } from '../../src/run/index.js';
import { exact, oracle, QA, qa } from '../optimizers/helpers.js';

afterEach(() => settings.reset());

const ctx = () => new RunContext(new Meter({}), 0, 2, undefined, undefined, undefined);
const o = { phase: 'baseline', metricName: 'judge' };

/** Unscorable (and failing closed) on the examples whose index is in `bad`. */
const judge = (bad: Set<number>) => (ex: Example) => {
  const i = Number(String(ex.get('question')).slice(1, 4));
  if (bad.has(i)) {
    noteUnscorable(`could not read the output of ${i}`);
    return false;
  }
  return true;
};

describe('scoreHeldOut', () => {
  it('gives the mean, the per-example values in valset order, and the unscorable count', async () => {
    settings.configure({ lm: oracle(4, { wrong: (i) => i === 2 }).lm });
    const r = await scoreHeldOut(ctx(), new QA(), qa(4), exact, o);
    expect(r.score).toBe(75);
    expect(r.perExample).toEqual([1, 1, 0, 1]);
    expect(r.errors).toBe(0);
    expect(r.unscorable).toBe(0);
  });

  it('half the examples unscorable still scores; more than half stops the run, naming the first reason', async () => {
    settings.configure({ lm: oracle(4).lm });
    const half = await scoreHeldOut(ctx(), new QA(), qa(4), judge(new Set([1, 3])), o);
    expect(half.unscorable).toBe(2);
    expect(half.score).toBe(50);
    const err = await scoreHeldOut(ctx(), new QA(), qa(4), judge(new Set([3, 1, 2])), o).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err).toMatchObject({ reason: 'metric_cannot_score', phase: 'baseline' });
    expect((err as Error).message).toContain('could not read the output of 1');
  });

  it('names the first unscorable example in valset order, whatever order the examples finished in', async () => {
    settings.configure({ lm: oracle(4).lm });
    const slowFirst = async (ex: Example) => {
      const i = Number(String(ex.get('question')).slice(1, 4));
      if (i === 1) await new Promise((r) => setTimeout(r, 40)); // example 1 is judged last
      if (i > 0) noteUnscorable(`could not read the output of ${i}`);
      return false;
    };
    const err = await scoreHeldOut(ctx(), new QA(), qa(4), slowFirst, o).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'metric_cannot_score' });
    expect((err as Error).message).toContain('(could not read the output of 1)');
  });

  it('stops when every execution failed, but not when some succeeded', async () => {
    settings.configure({ lm: oracle(4).lm });
    const failing = new QA();
    failing.forward = async () => {
      throw new Error('executor down');
    };
    const err = await scoreHeldOut(ctx(), failing, qa(4), exact, { ...o, phase: 'final' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'executions_failed', phase: 'final' });
    expect((err as Error).message).toContain('executor down');
    // The message says which program could not be scored, in the user's terms.
    expect((err as Error).message).toContain('while scoring the optimized pipeline,');
    const atBaseline = await scoreHeldOut(ctx(), failing, qa(4), exact, o).catch((e: unknown) => e);
    expect((atBaseline as Error).message).toContain('while scoring the pipeline as written,');
    const some = new QA();
    let n = 0;
    const real = some.forward.bind(some);
    some.forward = async (inputs) => {
      if (n++ === 0) throw new Error('one failure');
      return real(inputs);
    };
    const r = await scoreHeldOut(ctx(), some, qa(4), exact, o);
    expect(r.errors).toBe(1);
    expect(r.perExample).toEqual([0, 1, 1, 1]);
  });

  it('journals each example (unscorable notes included) so a resumed pass executes none again', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'scores-')), 'scores');
    const open = () => RunJournal.open(dir, { optimizer: 'held-out scores', configHash: 'h' });
    const first = oracle(4);
    settings.configure({ lm: first.lm });
    let journal = open();
    const a = await scoreHeldOut(ctx(), new QA(), qa(4), judge(new Set([2])), { ...o, journal });
    journal.close();
    const again = oracle(4);
    settings.configure({ lm: again.lm });
    journal = open();
    const b = await scoreHeldOut(ctx(), new QA(), qa(4), judge(new Set()), { ...o, journal });
    journal.close();
    expect(again.dummy.calls).toBe(0);
    expect(b.perExample).toEqual(a.perExample);
    expect(b.unscorable).toBe(1); // read back from the journal
    // Another journal key is another pass: it runs.
    journal = open();
    await scoreHeldOut(ctx(), new QA(), qa(4), exact, { ...o, journal, journalKey: 'final/x' });
    journal.close();
    expect(again.dummy.calls).toBe(4);
  });

  it('an empty valset scores 0 and stops nothing', async () => {
    const r = await scoreHeldOut(ctx(), new QA(), [], exact, o);
    expect(r).toMatchObject({ score: 0, perExample: [], errors: 0, unscorable: 0 });
  });

  it('judges failures on the whole pass: 11 failed executions of 12 still score', async () => {
    settings.configure({ lm: oracle(12).lm });
    const p = new QA();
    const real = p.forward.bind(p);
    p.forward = async (inputs) => {
      if (inputs['question'] !== 'Q011?') throw new Error('flaky executor');
      return real(inputs);
    };
    const r = await scoreHeldOut(ctx(), p, qa(12), exact, o);
    expect(r.errors).toBe(11);
    expect(r.perExample.filter((x) => x === 1)).toHaveLength(1);
  });

  it('a journal key equal to the phase finds the same records; failed executions are read back as failures', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'scores-')), 'scores');
    const open = () => RunJournal.open(dir, { optimizer: 'held-out scores', configHash: 'h' });
    settings.configure({ lm: oracle(4).lm });
    const p = new QA();
    const real = p.forward.bind(p);
    p.forward = async (inputs) => {
      if (inputs['question'] === 'Q001?') throw new Error('flaky executor');
      return real(inputs);
    };
    let journal = open();
    const a = await scoreHeldOut(ctx(), p, qa(4), exact, { ...o, journal });
    journal.close();
    expect(a.errors).toBe(1);
    const again = oracle(4);
    settings.configure({ lm: again.lm });
    journal = open();
    const b = await scoreHeldOut(ctx(), new QA(), qa(4), exact, { ...o, journal, journalKey: 'baseline' });
    journal.close();
    expect(again.dummy.calls).toBe(0);
    expect(b.errors).toBe(1);
    expect(b.results[1]?.error).toMatch(/flaky executor/);
    expect(b.perExample).toEqual(a.perExample);
  });
});

