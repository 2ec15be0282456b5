import { afterEach, describe, expect, it } from 'vitest';
import { Example, settings } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { BootstrapFewShot, LabeledFewShot, programToJson } from '../../src/optimizers/index.js';
import { exact, followLM, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

describe('LabeledFewShot', () => {
  it('gives every predictor a seeded sample of k examples and marks the program compiled', async () => {
    const { program } = await new LabeledFewShot({ k: 3 }).compile(new QA(), { trainset: qa(10), seed: 1 });
    expect(program.compiled).toBe(true);
    expect(program.predict.demos).toHaveLength(3);
    const again = await new LabeledFewShot({ k: 3 }).compile(new QA(), { trainset: qa(10), seed: 1 });
    expect(programToJson(again.program)).toBe(programToJson(program));
  });
});

describe('BootstrapFewShot', () => {
  it('compile marks the program compiled and leaves the student untouched', async () => {
    settings.configure({ lm: oracle(4).lm });
    const student = new QA();
    const { program } = await new BootstrapFewShot().compile(student, { trainset: qa(4), metric: exact });
    expect(program.compiled).toBe(true);
    expect(student.compiled).toBe(false);
    expect(student.predict.demos).toHaveLength(0);
  });

  it('with one training example: one demo equal to that example, and the right answer (follow-the-demos LM)', async () => {
    const trainset = [new Example({ question: 'What is the color of the sky?', answer: 'blue' }).withInputs('question')];
    const teacher = new QA();
    teacher.setLM(DummyLM.bySubstring({ 'color of the sky': { answer: 'blue' } }));
    const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 1, maxLabeledDemos: 1 }).compile(new QA(), {
      trainset,
      teacher,
      metric: exact,
    });
    expect(program.predict.demos).toHaveLength(1);
    const demo = program.predict.demos[0] as Example;
    expect(demo.get('question')).toBe('What is the color of the sky?');
    expect(demo.get('answer')).toBe('blue');
    expect(demo.get('augmented')).toBe(true);
    settings.configure({ lm: followLM() });
    expect((await program.call({ question: 'What is the color of the sky?' })).get('answer')).toBe('blue');
  });

  it('a teacher that throws with maxErrors: 1 makes compile throw that error', async () => {
    const teacher = new QA();
    const boom = new Error('teacher exploded');
    teacher.forward = async () => {
      throw boom;
    };
    settings.configure({ lm: oracle(3).lm });
    await expect(new BootstrapFewShot({ maxErrors: 1 }).compile(new QA(), { trainset: qa(3), teacher, metric: exact })).rejects.toBe(boom);
  });

  it('tops the bootstrapped demos up to maxLabeledDemos with examples that were not bootstrapped', async () => {
    settings.configure({ lm: oracle(10).lm });
    const trainset = qa(10);
    const { program, report } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 6 }).compile(new QA(), { trainset, metric: exact });
    const demos = program.predict.demos;
    expect(demos).toHaveLength(6);
    expect(demos.slice(0, 2).map((d) => [d.get('question'), d.get('augmented')])).toEqual([
      ['Q000?', true],
      ['Q001?', true],
    ]);
    const raw = demos.slice(2).map((d) => d.get('question'));
    expect(raw.every((q) => q !== 'Q000?' && q !== 'Q001?')).toBe(true);
    expect(new Set(raw).size).toBe(4);
    expect(report.bootstrapped).toBe(2);
  });

  it('honours metricThreshold 0 (DSPy treats it as unset)', async () => {
    settings.configure({ lm: oracle(4, { wrong: () => true }).lm });
    const zero = () => 0;
    const withZero = await new BootstrapFewShot({ metricThreshold: 0, maxBootstrappedDemos: 2, maxLabeledDemos: 2 }).compile(new QA(), { trainset: qa(4), metric: zero });
    expect(withZero.program.predict.demos.filter((d) => d.get('augmented'))).toHaveLength(2);
    const without = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 2 }).compile(new QA(), { trainset: qa(4), metric: zero });
    expect(without.program.predict.demos.filter((d) => d.get('augmented'))).toHaveLength(0);
  });

  it('bootstraps concurrently yet keeps the first successes in trainset order', async () => {
    const wrong = (i: number) => i % 2 === 0;
    const run = async (concurrency: number) => {
      const { lm } = oracle(30, { wrong, latencyMs: (concurrency % 3) + 1 });
      settings.configure({ lm });
      const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 3, maxLabeledDemos: 5 }).compile(new QA(), { trainset: qa(30), metric: exact, concurrency, seed: 3 });
      return programToJson(program);
    };
    const seq = await run(1);
    expect(JSON.parse(seq).predict.demos.slice(0, 3).map((d: { question: string }) => d.question)).toEqual(['Q001?', 'Q003?', 'Q005?']);
    expect(await run(8)).toBe(seq);
  });

  it('runs the teacher on each example with that example removed from its own demos (key order does not matter)', async () => {
    const trainset = qa(4);
    const leaks: string[] = [];
    const dummy = DummyLM.bySubstring(Object.fromEntries(trainset.map((e) => [e.get('question') as string, { answer: e.get('answer') }])));
    const gen = dummy.generate.bind(dummy);
    dummy.generate = (messages, o) => {
      const asked = /Q\d{3}\?/.exec(messages[messages.length - 1]!.content)![0];
      // A demo (any message before the final request) that shows the question being asked is a leak.
      if (messages.slice(0, -1).some((m) => m.content.includes(asked))) leaks.push(asked);
      return gen(messages, o);
    };
    settings.configure({ lm: dummy });
    // Labeled demos given to the teacher by BootstrapFewShot itself ...
    await new BootstrapFewShot({ maxBootstrappedDemos: 4, maxLabeledDemos: 4 }).compile(new QA(), { trainset, metric: exact });
    // ... and by the user, on a compiled teacher whose demos list the fields in another order.
    const teacher = new QA();
    teacher.predict.demos = trainset.map((e) => new Example({ answer: e.get('answer'), question: e.get('question') }));
    teacher.compiled = true;
    const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 4, maxLabeledDemos: 4 }).compile(new QA(), { trainset, teacher, metric: exact });
    expect(leaks).toEqual([]);
    expect(program.predict.demos.filter((d) => d.get('augmented'))).toHaveLength(4);
  });

  it('uses a fresh rollout for rounds after the first', async () => {
    const seen: unknown[] = [];
    const dummy = DummyLM.bySubstring({ 'Q000?': { answer: 'nope' } });
    const gen = dummy.generate.bind(dummy);
    dummy.generate = (m, o) => {
      seen.push([o?.rolloutId, o?.temperature]);
      return gen(m, o);
    };
    settings.configure({ lm: dummy });
    await new BootstrapFewShot({ maxRounds: 3, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(1), metric: exact });
    expect(seen).toEqual([[undefined, undefined], [1, 1], [2, 1]]);
  });
});
