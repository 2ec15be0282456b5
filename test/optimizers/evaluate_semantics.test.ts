// Evaluate as DSPy's: the mean as a percentage with two decimals, metric values as numbers,
// failures scored failureScore, maxErrors (default 10), progress per item, exports a user reads.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Example, Prediction, settings } from '../../src/dspy/index.js';
import { Evaluate, EvaluationError, exportEvaluation, type ProgressEvent } from '../../src/optimizers/index.js';
import { metricToNumber, roundScore } from '../../src/optimizers/evaluate.js';
import { exact, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

describe('metric values', () => {
  it('booleans count 1/0, feedback counts its score, numbers and numeric strings as they are, nothing as 0', () => {
    expect(metricToNumber(true)).toBe(1);
    expect(metricToNumber(false)).toBe(0);
    expect(metricToNumber(0.25)).toBe(0.25);
    expect(metricToNumber({ score: 0.75, feedback: 'close' })).toBe(0.75);
    expect(metricToNumber(null)).toBe(0);
    expect(metricToNumber(undefined)).toBe(0);
    expect(metricToNumber('0.5')).toBe(0.5);
  });

  it('a value that is no number is an error, not a silent 0', () => {
    expect(() => metricToNumber('high')).toThrow(TypeError);
    expect(() => metricToNumber(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => metricToNumber(Number.NaN)).toThrow(TypeError);
  });

  it('rounds to two decimals', () => {
    expect(roundScore(100 / 3)).toBe(33.33);
    expect(roundScore(200 / 3)).toBe(66.67);
  });
});

describe('Evaluate', () => {
  it('reports the mean as a percentage with two decimals', async () => {
    settings.configure({ lm: oracle(3, { wrong: (i) => i > 0 }).lm });
    const r = await new Evaluate({ devset: qa(3), metric: exact }).run(new QA());
    expect(r.score).toBe(33.33);
    expect(r.errors).toBe(0);
    expect(r.results.map((x) => x.index)).toEqual([0, 1, 2]);
    expect(r.results[0]?.prediction?.get('answer')).toBe('A0');
  });

  it('an empty devset scores 0', async () => {
    expect((await new Evaluate({ devset: [], metric: exact }).run(new QA())).score).toBe(0);
  });

  it('a failed item scores failureScore and keeps no prediction', async () => {
    settings.configure({ lm: oracle(4).lm });
    const metric = (ex: Example) => {
      if (ex.get('question') === 'Q000?') throw new Error('metric broke');
      return 0;
    };
    const r = await new Evaluate({ devset: qa(4), metric, failureScore: 1 }).run(new QA());
    expect(r.score).toBe(25);
    expect(r.results[0]).toMatchObject({ prediction: null, score: 1 });
    expect(r.results[0]?.error).toMatch(/^Error: metric broke/);
    expect(r.results[1]?.error).toBeUndefined();
  });

  it('stops after 10 errors by default, with the error count and the last cause', async () => {
    settings.configure({ lm: oracle(12).lm });
    const cause = new Error('always');
    const metric = () => {
      throw cause;
    };
    const nine = await new Evaluate({ devset: qa(9), metric }).run(new QA());
    expect(nine.errors).toBe(9);
    const err = await new Evaluate({ devset: qa(12), metric }).run(new QA()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EvaluationError);
    expect((err as EvaluationError).errors).toBe(10);
    expect((err as EvaluationError).cause).toBe(cause);
  });

  it('overrides apply to one call only', async () => {
    settings.configure({ lm: oracle(4).lm });
    const ev = new Evaluate({ devset: qa(4), metric: exact });
    expect((await ev.run(new QA(), { devset: qa(2) })).results).toHaveLength(2);
    expect((await ev.run(new QA())).results).toHaveLength(4);
  });

  it('reports progress per item: items done and the running mean', async () => {
    settings.configure({ lm: oracle(4, { wrong: (i) => i === 1 }).lm });
    const events: ProgressEvent[] = [];
    await new Evaluate({ devset: qa(4), metric: exact, onProgress: (e) => events.push(e) }).run(new QA());
    expect(events.map((e) => [e.phase, e.trial, e.totalTrials, e.score])).toEqual([
      ['evaluate', 1, 4, 100],
      ['evaluate', 2, 4, 50],
      ['evaluate', 3, 4, 66.67],
      ['evaluate', 4, 4, 75],
    ]);
    // A listener that throws does not break the evaluation.
    const r = await new Evaluate({ devset: qa(2), metric: exact, onProgress: () => { throw new Error('listener'); } }).run(new QA());
    expect(r.results).toHaveLength(2);
  });

  it('an aborted signal stops the evaluation instead of scoring items as failures', async () => {
    const { lm, dummy } = oracle(4);
    settings.configure({ lm });
    const ac = new AbortController();
    ac.abort();
    await expect(new Evaluate({ devset: qa(4), metric: exact, signal: ac.signal }).run(new QA())).rejects.toThrow(/aborted/);
    expect(dummy.calls).toBe(0);
  });

  it('exports CSV a spreadsheet reads back: quoted cells, error column, pred_ prefix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-'));
    const ex = new Example({ question: 'a, "b"\nc', answer: 'x' });
    await exportEvaluation(
      {
        score: 50,
        errors: 1,
        results: [
          { index: 0, example: ex, prediction: new Prediction({ answer: 'x' }), score: 1 },
          { index: 1, example: ex, prediction: null, score: 0, error: 'Error: boom' },
        ],
      },
      join(dir, 'out.CSV'),
    );
    const text = readFileSync(join(dir, 'out.CSV'), 'utf8');
    expect(text).toBe(
      'index,question,answer,pred_answer,score,error\n' + '0,"a, ""b""\nc",x,x,1,\n' + '1,"a, ""b""\nc",x,,0,Error: boom\n',
    );
    await exportEvaluation({ score: 50, errors: 1, results: [{ index: 1, example: ex, prediction: null, score: 0, error: 'Error: boom' }] }, join(dir, 'out.txt'));
    expect(JSON.parse(readFileSync(join(dir, 'out.txt'), 'utf8'))).toEqual({
      score: 50,
      errors: 1,
      results: [{ index: 1, example: ex.toDict(), prediction: {}, score: 0, error: 'Error: boom' }],
    });
    await exportEvaluation({ score: 0, errors: 0, results: [{ index: 0, example: ex, prediction: null, score: 0 }] }, join(dir, 'forced'), 'csv');
    expect(readFileSync(join(dir, 'forced'), 'utf8').split('\n')[0]).toBe('index,question,answer,score,error');
  });
});
