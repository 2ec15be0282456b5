import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { Evaluate, EvaluationError } from '../../src/optimizers/index.js';
import { exact, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

describe('Evaluate', () => {
  it('scores 100 when every answer is right and 0 when none is', async () => {
    const devset = qa(6);
    settings.configure({ lm: oracle(6).lm });
    expect((await new Evaluate({ devset, metric: exact }).run(new QA())).score).toBe(100);
    settings.configure({ lm: oracle(6, { wrong: () => true }).lm });
    const r = await new Evaluate({ devset, metric: exact }).run(new QA());
    expect(r.score).toBe(0);
    expect(r.results.map((x) => x.score)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('gives the same score and per-item order at concurrency 1 and 8', async () => {
    const devset = qa(20);
    const { lm } = oracle(20, { wrong: (i) => i % 3 === 0, latencyMs: 2 });
    settings.configure({ lm });
    const one = await new Evaluate({ devset, metric: exact, concurrency: 1 }).run(new QA());
    const eight = await new Evaluate({ devset, metric: exact, concurrency: 8 }).run(new QA());
    expect(one.score).toBe(65);
    expect(eight.score).toBe(one.score);
    expect(eight.results.map((r) => r.example.get('question'))).toEqual(devset.map((e) => e.get('question')));
    expect(eight.results.map((r) => r.score)).toEqual(one.results.map((r) => r.score));
  });

  it('scores a failed item failureScore, and throws after maxErrors failures', async () => {
    const devset = qa(4);
    settings.configure({ lm: oracle(4).lm });
    const failing = (ex: { get(k: string): unknown }) => {
      if (ex.get('question') === 'Q001?') throw new Error('metric broke');
      return true;
    };
    const r = await new Evaluate({ devset, metric: failing, failureScore: 0 }).run(new QA());
    expect(r.errors).toBe(1);
    expect(r.results[1]?.error).toContain('metric broke');
    expect(r.score).toBe(75);
    await expect(new Evaluate({ devset, metric: () => { throw new Error('always'); }, maxErrors: 2, concurrency: 4 }).run(new QA())).rejects.toThrow(EvaluationError);
  });

  it('exports per-item results as CSV and JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-'));
    settings.configure({ lm: oracle(2).lm });
    const ev = new Evaluate({ devset: qa(2), metric: exact });
    await ev.run(new QA(), { exportPath: join(dir, 'r.csv') });
    await ev.run(new QA(), { exportPath: join(dir, 'r.json') });
    expect(readFileSync(join(dir, 'r.csv'), 'utf8').split('\n')[0]).toBe('index,question,answer,pred_answer,score,error');
    expect(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).results[1].prediction).toEqual({ answer: 'A1' });
  });
});
