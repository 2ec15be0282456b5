// LabeledFewShot as DSPy's: k (default 16) training examples per predictor, sampled (default)
// or the first k, no LM call, nothing to resume.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabeledFewShot } from '../../src/optimizers/index.js';
import { Nested, QA, qa, question } from './helpers.js';

const questions = (demos: ReadonlyArray<{ get(k: string): unknown }>) => demos.map((d) => d.get('question'));

describe('LabeledFewShot', () => {
  it('gives 16 demos by default, a sample rather than the first 16', async () => {
    const trainset = qa(30);
    const { program } = await new LabeledFewShot().compile(new QA(), { trainset });
    const qs = questions(program.predict.demos);
    expect(qs).toHaveLength(16);
    expect(new Set(qs).size).toBe(16);
    expect(qs).not.toEqual(trainset.slice(0, 16).map((e) => e.get('question')));
  });

  it('sample: false takes the first k; k larger than the trainset takes all of it', async () => {
    const first = await new LabeledFewShot({ k: 2, sample: false }).compile(new QA(), { trainset: qa(5) });
    expect(questions(first.program.predict.demos)).toEqual([question(0), question(1)]);
    const all = await new LabeledFewShot({ k: 9, sample: false }).compile(new QA(), { trainset: qa(3) });
    expect(all.program.predict.demos).toHaveLength(3);
  });

  it('every predictor gets its own draw, and the seed decides the draws', async () => {
    const a = await new LabeledFewShot({ k: 3 }).compile(new Nested(), { trainset: qa(20), seed: 2 });
    const [first, second] = a.program.predictors();
    expect(questions(first!.demos)).toHaveLength(3);
    expect(questions(second!.demos)).toHaveLength(3);
    expect(questions(first!.demos)).not.toEqual(questions(second!.demos));
    const b = await new LabeledFewShot({ k: 3 }).compile(new Nested(), { trainset: qa(20), seed: 3 });
    expect(questions(b.program.predictors()[0]!.demos)).not.toEqual(questions(first!.demos));
  });

  it('an empty trainset leaves the predictors without demos', async () => {
    const student = new QA();
    student.predict.demos = qa(1);
    const { program } = await new LabeledFewShot().compile(student, { trainset: [] });
    expect(program.predict.demos).toEqual([]);
    expect(student.predict.demos).toHaveLength(1);
  });

  it('writes no journal even when given a run directory (nothing to resume)', async () => {
    const runDir = join(mkdtempSync(join(tmpdir(), 'labeled-')), 'run');
    await new LabeledFewShot({ k: 2 }).compile(new QA(), { trainset: qa(4), runDir });
    expect(existsSync(join(runDir, 'journal.jsonl'))).toBe(false);
  });

  it('without a seed, draws as with seed 0', async () => {
    const none = await new LabeledFewShot({ k: 4 }).compile(new QA(), { trainset: qa(20) });
    const zero = await new LabeledFewShot({ k: 4 }).compile(new QA(), { trainset: qa(20), seed: 0 });
    const one = await new LabeledFewShot({ k: 4 }).compile(new QA(), { trainset: qa(20), seed: 1 });
    expect(questions(none.program.predict.demos)).toEqual(questions(zero.program.predict.demos));
    expect(questions(one.program.predict.demos)).not.toEqual(questions(zero.program.predict.demos));
  });
});
