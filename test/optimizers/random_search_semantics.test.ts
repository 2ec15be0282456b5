// BootstrapFewShotWithRandomSearch's DSPy semantics a user relies on: the best candidate wins
// (not the last), a run cut short returns the best so far (not the bare student), the
// defaults, and what each kind of candidate is.
import { afterEach, describe, expect, it } from 'vitest';
import { Example, settings } from '../../src/dspy/index.js';
import { DummyLM, renderChatAnswer } from '../../src/dspy/dummy_lm.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { BootstrapFewShotWithRandomSearch, Evaluate } from '../../src/optimizers/index.js';
import { answer, exact, oracle, QA, qa, question, trackInFlight } from './helpers.js';

afterEach(() => settings.reset());

/** An LM that knows every answer but gives it only when the prompt shows `ok(demos)` demos. */
function demoCountLM(n: number, ok: (demos: number) => boolean): { lm: ManagedLM; dummy: DummyLM } {
  const table: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < n; i++) table[question(i)] = { answer: answer(i) };
  const dummy = DummyLM.bySubstring(table, { historyLimit: 0 });
  const gen = dummy.generate.bind(dummy);
  dummy.generate = async (messages, o) => {
    const r = await gen(messages, o);
    const demos = messages.filter((m) => m.role === 'assistant').length;
    return ok(demos) ? r : { ...r, text: renderChatAnswer({ answer: 'no idea' }) };
  };
  return { lm: new ManagedLM(dummy, { cache: false }), dummy };
}

/** A teacher that always knows the answer (its own LM), so bootstrapping always succeeds. */
function knowingTeacher(n: number, onCall?: () => void): QA {
  const teacher = new QA();
  const { lm, dummy } = oracle(n);
  if (onCall) {
    const gen = dummy.generate.bind(dummy);
    dummy.generate = (m, o) => {
      onCall();
      return gen(m, o);
    };
  }
  teacher.setLM(lm);
  return teacher;
}

const augmented = (p: QA) => p.predict.demos.filter((d) => d.get('augmented') === true);

describe('BootstrapFewShotWithRandomSearch: the best candidate', () => {
  // The student's LM answers right only with 1 or 2 demos in the prompt. Candidates:
  // -3 zero-shot (0 demos: 0), -2 two labeled demos (100), -1 four bootstrapped demos (0).
  const setup = () => {
    settings.configure({ lm: demoCountLM(20, (d) => d >= 1 && d <= 2).lm });
    return new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 0, maxBootstrappedDemos: 4, maxLabeledDemos: 2 });
  };

  it('returns the best-scoring candidate, not the last one tried', async () => {
    const rs = setup();
    const valset = qa(4, 10);
    const { program, report } = await rs.compile(new QA(), { trainset: qa(6), valset, teacher: knowingTeacher(20), metric: exact });
    expect(report.trials.map((t) => [t.seed, t.score])).toEqual([
      [-3, 0],
      [-2, 100],
      [-1, 0],
    ]);
    expect(report.trials.every((t) => t.kind === 'candidate')).toBe(true);
    expect(report.baselineScore).toBe(0);
    expect(report.bestScore).toBe(100);
    expect(program.predict.demos).toHaveLength(2);
    expect(augmented(program)).toHaveLength(0);
    expect((await new Evaluate({ devset: valset, metric: exact }).run(program)).score).toBe(100);
  });

  it('a run cut short returns the best candidate scored so far, not the bare student', async () => {
    const rs = setup();
    const ac = new AbortController();
    // The teacher is first called while building candidate -1, after -3 and -2 were scored.
    const teacher = knowingTeacher(20, () => ac.abort(new Error('user stop')));
    const { program, report } = await rs.compile(new QA(), { trainset: qa(6), valset: qa(4, 10), teacher, metric: exact, signal: ac.signal });
    expect(report.cutShort).toBe(true);
    expect(report.trials.map((t) => t.seed)).toEqual([-3, -2]);
    expect(report.baselineScore).toBe(0); // the zero-shot candidate's score, not the last one's
    expect(report.bestScore).toBe(100);
    expect(program.predict.demos).toHaveLength(2);
    expect(program.compiled).toBe(true);
  });

  it('a run stopped before any candidate was scored returns a copy of the student', async () => {
    const ac = new AbortController();
    ac.abort();
    settings.configure({ lm: oracle(4).lm });
    const student = new QA();
    student.predict.demos = qa(1, 10);
    const { program, report } = await new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 1 }).compile(student, { trainset: qa(4), metric: exact, signal: ac.signal });
    expect(report.cutShort).toBe(true);
    expect(program).not.toBe(student);
    expect(program.predict.demos.map((d) => d.get('question'))).toEqual([question(10)]);
  });

  it('stopAtScore: no candidate past the stopping one is built, even when building ahead', async () => {
    let teacherCalls = 0;
    settings.configure({ lm: demoCountLM(20, (d) => d >= 1 && d <= 2).lm });
    const rs = new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 4, maxBootstrappedDemos: 4, maxLabeledDemos: 2, stopAtScore: 100 });
    const { report } = await rs.compile(new QA(), {
      trainset: qa(6),
      valset: qa(4, 10),
      teacher: knowingTeacher(20, () => (teacherCalls += 1)),
      metric: exact,
      concurrency: 4,
    });
    expect(report.trials.map((t) => t.seed)).toEqual([-3, -2]);
    expect(teacherCalls).toBe(0);
  });
});

describe('BootstrapFewShotWithRandomSearch: defaults and candidates', () => {
  it('tries 16 shuffled candidates after zero-shot, labeled and unshuffled by default', () => {
    expect(new BootstrapFewShotWithRandomSearch().seeds()).toEqual(Array.from({ length: 19 }, (_, i) => i - 3));
    expect(new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 2, restrict: [1, -2, 5] }).seeds()).toEqual([-2, 1]);
  });

  it('the labeled candidate samples 16 demos by default (labeledSample), or takes the first k', async () => {
    settings.configure({ lm: oracle(30).lm });
    const trainset = qa(20);
    const sampled = await new BootstrapFewShotWithRandomSearch({ restrict: [-2] }).compile(new QA(), { trainset, metric: exact });
    const qs = sampled.program.predict.demos.map((d) => d.get('question'));
    expect(qs).toHaveLength(16);
    expect(qs).not.toEqual(trainset.slice(0, 16).map((e) => e.get('question')));
    const first = await new BootstrapFewShotWithRandomSearch({ restrict: [-2], maxLabeledDemos: 3, labeledSample: false }).compile(new QA(), { trainset, metric: exact });
    expect(first.program.predict.demos.map((d) => d.get('question'))).toEqual([question(0), question(1), question(2)]);
  });

  it('the unshuffled candidate bootstraps 4 demos in trainset order by default, topped up to 16', async () => {
    settings.configure({ lm: oracle(30).lm });
    const { program, report } = await new BootstrapFewShotWithRandomSearch({ restrict: [-1] }).compile(new QA(), { trainset: qa(30), metric: exact });
    expect(augmented(program).map((d) => d.get('question'))).toEqual([0, 1, 2, 3].map(question));
    expect(program.predict.demos).toHaveLength(16);
    // No valset: candidates are scored on the trainset.
    expect(report.trials[0]?.size).toBe(30);
  });

  it('shuffled candidates bootstrap between minNumSamples (default 1) and maxBootstrappedDemos demos', async () => {
    settings.configure({ lm: oracle(30).lm });
    const counts: number[] = [];
    let shuffled = false;
    for (let s = 0; s < 8; s++) {
      const { program } = await new BootstrapFewShotWithRandomSearch({ restrict: [s], maxBootstrappedDemos: 3, maxLabeledDemos: 0 }).compile(new QA(), {
        trainset: qa(12),
        metric: exact,
        seed: 7,
      });
      const qs = augmented(program).map((d) => d.get('question'));
      counts.push(qs.length);
      if (qs.join() !== [0, 1, 2].map(question).slice(0, qs.length).join()) shuffled = true;
    }
    expect(counts.every((c) => c >= 1 && c <= 3)).toBe(true);
    expect(new Set(counts).size).toBeGreaterThan(1);
    expect(shuffled).toBe(true);
    const atLeast = await new BootstrapFewShotWithRandomSearch({ restrict: [0, 1, 2], maxBootstrappedDemos: 3, maxLabeledDemos: 0, minNumSamples: 3 }).compile(new QA(), {
      trainset: qa(12),
      metric: exact,
      seed: 7,
    });
    expect(augmented(atLeast.program)).toHaveLength(3);
  });

  it('different run seeds shuffle differently; the same seed the same way', async () => {
    settings.configure({ lm: oracle(30).lm });
    const demos = async (seed: number) => {
      const { program } = await new BootstrapFewShotWithRandomSearch({ restrict: [0], maxBootstrappedDemos: 4, maxLabeledDemos: 0, minNumSamples: 4 }).compile(new QA(), {
        trainset: qa(20),
        metric: exact,
        seed,
      });
      return augmented(program).map((d) => d.get('question'));
    };
    const a = await demos(1);
    expect(await demos(1)).toEqual(a);
    expect(await demos(2)).not.toEqual(a);
  });

  it('passes metricThreshold, maxRounds and maxErrors on to bootstrapping', async () => {
    settings.configure({ lm: oracle(10).lm });
    const half = () => 0.5;
    const strict = await new BootstrapFewShotWithRandomSearch({ restrict: [-1], metricThreshold: 0.6, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(4), metric: half });
    expect(augmented(strict.program)).toHaveLength(0);
    const lax = await new BootstrapFewShotWithRandomSearch({ restrict: [-1], metricThreshold: 0.5, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(4), metric: half });
    expect(augmented(lax.program)).toHaveLength(4);

    const failing = () => {
      const t = new QA();
      t.forward = async () => {
        throw new Error('teacher down');
      };
      return t;
    };
    // Default maxErrors 10: nine failures pass, the tenth throws.
    await expect(new BootstrapFewShotWithRandomSearch({ restrict: [-1] }).compile(new QA(), { trainset: qa(9), teacher: failing(), metric: exact })).resolves.toBeDefined();
    await expect(new BootstrapFewShotWithRandomSearch({ restrict: [-1] }).compile(new QA(), { trainset: qa(10), teacher: failing(), metric: exact })).rejects.toThrow('teacher down');
    await expect(new BootstrapFewShotWithRandomSearch({ restrict: [-1], maxErrors: 2 }).compile(new QA(), { trainset: qa(2), teacher: failing(), metric: exact })).rejects.toThrow('teacher down');

    // Default one round: a teacher wrong on its first sample is not retried.
    const { lm, dummy } = oracle(2, { wrong: () => true });
    settings.configure({ lm });
    await new BootstrapFewShotWithRandomSearch({ restrict: [-1], maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(2), valset: [], metric: exact });
    expect(dummy.calls).toBe(2);
    await new BootstrapFewShotWithRandomSearch({ restrict: [-1], maxLabeledDemos: 0, maxRounds: 2 }).compile(new QA(), { trainset: qa(2), valset: [], metric: exact });
    expect(dummy.calls).toBe(2 + 4);
  });

  it('numThreads sets the concurrency when the compile options do not', async () => {
    const { lm, dummy } = oracle(12, { latencyMs: 5 });
    const flight = trackInFlight(dummy);
    settings.configure({ lm });
    await new BootstrapFewShotWithRandomSearch({ restrict: [-3], numThreads: 4 }).compile(new QA(), { trainset: qa(12), metric: exact });
    expect(flight.peak()).toBe(4);
    flight.reset();
    await new BootstrapFewShotWithRandomSearch({ restrict: [-3], numThreads: 4 }).compile(new QA(), { trainset: qa(12), metric: exact, concurrency: 2 });
    expect(flight.peak()).toBe(2);
  });

  it('uses the example itself as the unit of a candidate score (valset order kept)', async () => {
    settings.configure({ lm: oracle(6, { wrong: (i) => i === 0 }).lm });
    const valset: Example[] = qa(4);
    const { report } = await new BootstrapFewShotWithRandomSearch({ restrict: [-3] }).compile(new QA(), { trainset: qa(2), valset, metric: exact });
    expect(report.trials[0]?.score).toBe(75);
    expect(report.trials[0]?.size).toBe(4);
  });
});

describe('BootstrapFewShotWithRandomSearch: work', () => {
  const counting = (n: number, latencyMs = 0) => {
    const o = oracle(n, { wrong: (i) => i % 3 === 0, latencyMs });
    const stats = { inFlight: 0, most: 0 };
    const gen = o.dummy.generate.bind(o.dummy);
    o.dummy.generate = async (m, opts) => {
      stats.inFlight += 1;
      stats.most = Math.max(stats.most, stats.inFlight);
      try {
        return await gen(m, opts);
      } finally {
        stats.inFlight -= 1;
      }
    };
    return { ...o, stats };
  };
  const search = () => new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 3, maxBootstrappedDemos: 2, maxLabeledDemos: 2 });

  it('building the next candidate early costs no LM call the one-at-a-time search does not make', async () => {
    const one = counting(20);
    settings.configure({ lm: one.lm });
    const a = await search().compile(new QA(), { trainset: qa(10), valset: qa(6, 10), metric: exact, seed: 4, concurrency: 1 });
    const four = counting(20, 1);
    settings.configure({ lm: four.lm });
    const b = await search().compile(new QA(), { trainset: qa(10), valset: qa(6, 10), metric: exact, seed: 4, concurrency: 4 });
    expect(four.dummy.calls).toBe(one.dummy.calls);
    expect(b.report.trials).toEqual(a.report.trials);
    expect(one.stats.most).toBe(1); // concurrency 1: one call at a time, nothing built ahead
    expect(four.stats.most).toBeLessThanOrEqual(4 + 1); // the scoring, plus a quarter for the walk ahead
  });

  it('reports progress per candidate with the best score so far', async () => {
    settings.configure({ lm: demoCountLM(20, (d) => d >= 1 && d <= 2).lm });
    const events: Array<[number | undefined, number | undefined, number | undefined, number | undefined]> = [];
    await new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 0, maxBootstrappedDemos: 4, maxLabeledDemos: 2 }).compile(new QA(), {
      trainset: qa(6),
      valset: qa(4, 10),
      teacher: knowingTeacher(20),
      metric: exact,
      onProgress: (e) => {
        if (e.phase === 'candidate') events.push([e.trial, e.totalTrials, e.score, e.bestScore]);
      },
    });
    expect(events).toEqual([
      [1, 3, 0, 0],
      [2, 3, 100, 100],
      [3, 3, 0, 100],
    ]);
  });

  it('a resumed run replays every scored candidate: no LM call, the same program', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const runDir = join(mkdtempSync(join(tmpdir(), 'rs-resume-')), 'run');
    const first = counting(20);
    settings.configure({ lm: first.lm });
    const a = await search().compile(new QA(), { trainset: qa(10), valset: qa(6, 10), metric: exact, seed: 4, runDir, concurrency: 2 });
    const again = counting(20);
    settings.configure({ lm: again.lm });
    const b = await search().compile(new QA(), { trainset: qa(10), valset: qa(6, 10), metric: exact, seed: 4, runDir, concurrency: 2 });
    expect(again.dummy.calls).toBe(0);
    expect(b.report.trials.map((t) => [t.seed, t.score])).toEqual(a.report.trials.map((t) => [t.seed, t.score]));
    expect(b.report.trials.every((t) => t.resumed)).toBe(true);
    expect(b.program.predict.demos.map((d) => d.toDict())).toEqual(a.program.predict.demos.map((d) => d.toDict()));
    expect(b.report.bestScore).toBe(a.report.bestScore);
    expect(b.report.baselineScore).toBe(a.report.baselineScore);
  });
});

describe('BootstrapFewShotWithRandomSearch: journal and errors', () => {
  const tmpRun = async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    return join(mkdtempSync(join(tmpdir(), 'rs-j-')), 'run');
  };
  const search = (o: Record<string, unknown> = {}) => new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 3, maxBootstrappedDemos: 2, maxLabeledDemos: 2, ...o });

  it('a journaled run ends as an unjournaled one does', async () => {
    const args = { trainset: qa(10), valset: qa(6, 10), metric: exact, seed: 4 };
    settings.configure({ lm: oracle(20, { wrong: (i) => i % 3 === 0, needDemos: 2 }).lm });
    const plain = await search().compile(new QA(), args);
    settings.configure({ lm: oracle(20, { wrong: (i) => i % 3 === 0, needDemos: 2 }).lm });
    const journaled = await search().compile(new QA(), { ...args, runDir: await tmpRun() });
    expect(journaled.report.trials.map((t) => [t.seed, t.score, t.resumed])).toEqual(plain.report.trials.map((t) => [t.seed, t.score, t.resumed]));
    expect(journaled.program.predict.demos.map((d) => d.toDict())).toEqual(plain.program.predict.demos.map((d) => d.toDict()));
  });

  it('refuses to resume with another stopAtScore or restrict', async () => {
    const { JournalConfigMismatchError } = await import('../../src/optimizers/index.js');
    settings.configure({ lm: oracle(20).lm });
    const args = { trainset: qa(6), valset: qa(4, 10), metric: exact };
    const runDir = await tmpRun();
    await search({ stopAtScore: 100, restrict: [-3, 0] }).compile(new QA(), { ...args, runDir });
    await expect(search({ stopAtScore: 50, restrict: [-3, 0] }).compile(new QA(), { ...args, runDir })).rejects.toThrow(JournalConfigMismatchError);
    await expect(search({ stopAtScore: 100, restrict: [-3, 1] }).compile(new QA(), { ...args, runDir })).rejects.toThrow(JournalConfigMismatchError);
  });

  it('scoring a candidate stops after maxErrors failing items', async () => {
    settings.configure({ lm: oracle(20).lm });
    const broken = () => {
      throw new Error('metric down');
    };
    const err = await search({ restrict: [-3], maxErrors: 2 }).compile(new QA(), { trainset: qa(4), valset: qa(4, 10), metric: broken }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'EvaluationError', errors: 2 });
  });
});

