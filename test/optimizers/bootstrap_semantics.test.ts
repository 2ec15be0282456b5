// BootstrapFewShot's DSPy semantics a user relies on: where the teacher's demos come from, the
// teacher/student check, the defaults, the pass rule, and what a run cut short returns.
import { afterEach, describe, expect, it } from 'vitest';
import { Example, Module, Predict, settings, type Prediction } from '../../src/dspy/index.js';
import { BootstrapFewShot } from '../../src/optimizers/index.js';
import { metricPasses } from '../../src/optimizers/bootstrap_fewshot.js';
import { answer, exact, oracle, QA, qa, question, trackInFlight } from './helpers.js';

afterEach(() => settings.reset());

const augmented = (p: QA) => p.predict.demos.filter((d) => d.get('augmented') === true);

/** The same single predictor as QA, under another name. */
class Renamed extends Module {
  ask = new Predict('question -> answer');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.ask.call(inputs);
  }
}

/** QA's predictor plus a second one. */
class QAPlus extends Module {
  predict = new Predict('question -> answer');
  extra = new Predict('answer -> summary');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.predict.call(inputs);
  }
}

/** QAPlus with its second predictor under another name. */
class QAOther extends Module {
  predict = new Predict('question -> answer');
  other = new Predict('answer -> summary');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.predict.call(inputs);
  }
}

describe('BootstrapFewShot: the teacher', () => {
  it("the teacher's labeled demos are a seeded sample of the trainset, not its first examples", async () => {
    const shown = new Set<string>();
    const { lm, dummy } = oracle(20);
    const gen = dummy.generate.bind(dummy);
    dummy.generate = (m, o) => {
      for (const msg of m.slice(1, -1)) for (const q of msg.content.match(/Q\d{3}\?/g) ?? []) shown.add(q);
      return gen(m, o);
    };
    settings.configure({ lm });
    await new BootstrapFewShot({ maxBootstrappedDemos: 1, maxLabeledDemos: 3 }).compile(new QA(), { trainset: qa(20), metric: exact, seed: 1 });
    expect(shown.size).toBeGreaterThan(0);
    expect([...shown].some((q) => ![question(0), question(1), question(2), question(3)].includes(q))).toBe(true);
  });

  it('an uncompiled teacher first gets maxLabeledDemos labeled demos (an LM that needs demos then succeeds)', async () => {
    // The LM answers right only when the prompt shows at least 2 demos: only the labeled demos
    // BootstrapFewShot gives the teacher make bootstrapping possible.
    settings.configure({ lm: oracle(8, { needDemos: 2 }).lm });
    const { program, report } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 4 }).compile(new QA(), { trainset: qa(8), metric: exact });
    expect(report.bootstrapped).toBe(2);
    expect(augmented(program)).toHaveLength(2);
  });

  it('a compiled teacher is used as it is: no labeled demos are added to it', async () => {
    settings.configure({ lm: oracle(8, { needDemos: 2 }).lm });
    const teacher = new QA();
    teacher.compiled = true; // compiled, with no demos: the LM never answers right
    const { report } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 4 }).compile(new QA(), { trainset: qa(8), teacher, metric: exact });
    expect(report.bootstrapped).toBe(0);
  });

  it('with maxLabeledDemos 0 an uncompiled teacher keeps the demos it has', async () => {
    settings.configure({ lm: oracle(8, { needDemos: 2 }).lm });
    const teacher = new QA();
    teacher.predict.demos = qa(3, 8); // examples outside the trainset
    const { report } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(8), teacher, metric: exact });
    expect(report.bootstrapped).toBe(2);
  });

  it('the student is never used as the teacher once a teacher is given', async () => {
    settings.configure({ lm: oracle(4, { needDemos: 2 }).lm });
    const student = new QA();
    const teacher = new QA();
    teacher.predict.demos = qa(2, 4);
    teacher.compiled = true;
    const { report } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 0 }).compile(student, { trainset: qa(4), teacher, metric: exact });
    expect(report.bootstrapped).toBe(2);
  });

  it('refuses a teacher whose predictors differ from the student (other name, or one more)', async () => {
    settings.configure({ lm: oracle(4).lm });
    const bf = new BootstrapFewShot();
    await expect(bf.compile(new QA(), { trainset: qa(4), teacher: new Renamed(), metric: exact })).rejects.toThrow(/do not match/);
    await expect(bf.compile(new QA(), { trainset: qa(4), teacher: new QAPlus(), metric: exact })).rejects.toThrow(/do not match/);
    await expect(bf.compile(new QAPlus(), { trainset: qa(4), teacher: new QA(), metric: exact })).rejects.toThrow(/do not match/);
    // Same count, the first the same, the second renamed.
    await expect(bf.compile(new QAPlus(), { trainset: qa(4), teacher: new QAOther(), metric: exact })).rejects.toThrow(/do not match/);
    // The same predictors in a fresh instance are fine.
    await expect(bf.compile(new QA(), { trainset: qa(4), teacher: new QA(), metric: exact })).resolves.toBeDefined();
  });
});

describe('BootstrapFewShot: defaults (DSPy: 4 bootstrapped, 16 labeled, 1 round, 10 errors)', () => {
  it('bootstraps 4 demos and tops up to 16 with labeled ones', async () => {
    settings.configure({ lm: oracle(30).lm });
    const { program, report } = await new BootstrapFewShot().compile(new QA(), { trainset: qa(30), metric: exact });
    expect(report.bootstrapped).toBe(4);
    expect(augmented(program)).toHaveLength(4);
    expect(program.predict.demos).toHaveLength(16);
  });

  it('tries each example once (one round)', async () => {
    const { lm, dummy } = oracle(3, { wrong: () => true });
    settings.configure({ lm });
    await new BootstrapFewShot({ maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(3), metric: exact });
    expect(dummy.calls).toBe(3);
  });

  it('tolerates 9 failing examples and throws at the 10th', async () => {
    const failing = () => {
      const teacher = new QA();
      teacher.forward = async () => {
        throw new Error('teacher down');
      };
      return teacher;
    };
    settings.configure({ lm: oracle(10).lm });
    const nine = await new BootstrapFewShot().compile(new QA(), { trainset: qa(9), teacher: failing(), metric: exact });
    expect(nine.report.bootstrapped).toBe(0);
    expect(nine.report.errors).toBe(9);
    await expect(new BootstrapFewShot().compile(new QA(), { trainset: qa(10), teacher: failing(), metric: exact })).rejects.toThrow('teacher down');
  });

  it('maxRounds retries a failed example with fresh samples until one passes', async () => {
    let n = 0;
    const { lm, dummy } = oracle(1);
    const gen = dummy.generate.bind(dummy);
    dummy.generate = async (m, o) => {
      n += 1;
      const r = await gen(m, o);
      return n < 3 ? { ...r, text: r.text.replace(answer(0), 'nope') } : r;
    };
    settings.configure({ lm });
    const two = await new BootstrapFewShot({ maxRounds: 2, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(1), metric: exact });
    expect(two.report.bootstrapped).toBe(0);
    n = 0;
    const three = await new BootstrapFewShot({ maxRounds: 3, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(1), metric: exact });
    expect(three.report.bootstrapped).toBe(1);
    expect(augmented(three.program)[0]?.get('question')).toBe(question(0));
  });
});

describe('BootstrapFewShot: the pass rule', () => {
  it('with a threshold, a score passes when it reaches it; without one, when it is truthy', () => {
    expect(metricPasses(0.5, 0.5)).toBe(true);
    expect(metricPasses(0.49, 0.5)).toBe(false);
    expect(metricPasses({ score: 0.7, feedback: 'ok' }, 0.5)).toBe(true);
    expect(metricPasses({ score: 0.2, feedback: 'low' }, 0.5)).toBe(false);
    expect(metricPasses({ score: 0, feedback: 'zero' }, undefined)).toBe(false);
    expect(metricPasses(0.1, undefined)).toBe(true);
    expect(metricPasses(0, undefined)).toBe(false);
    expect(metricPasses(false, undefined)).toBe(false);
    expect(metricPasses(0, 0)).toBe(true);
    // A null threshold (from JSON) is no threshold.
    expect(metricPasses(0, null as unknown as undefined)).toBe(false);
    expect(metricPasses(1, null as unknown as undefined)).toBe(true);
  });

  it('metricThreshold decides which examples become demos', async () => {
    settings.configure({ lm: oracle(6).lm });
    // The metric scores example i as i/10: with threshold 0.3, examples 3.. pass.
    const metric = (ex: Example) => Number(String(ex.get('question')).slice(1, 4)) / 10;
    const { program } = await new BootstrapFewShot({ metricThreshold: 0.3, maxBootstrappedDemos: 2, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(6), metric });
    expect(augmented(program).map((d) => d.get('question'))).toEqual([question(3), question(4)]);
  });
});

describe('BootstrapFewShot: cut short', () => {
  it('returns the demos bootstrapped before the budget ran out, topped up with labeled ones', async () => {
    settings.configure({ lm: oracle(10).lm });
    const { program, report } = await new BootstrapFewShot({ maxBootstrappedDemos: 4, maxLabeledDemos: 5 }).compile(new QA(), {
      trainset: qa(10),
      metric: exact,
      budget: { maxCalls: 2 },
    });
    expect(report.cutShort).toBe(true);
    expect(report.bootstrapped).toBe(2);
    expect(augmented(program).map((d) => d.get('question'))).toEqual([question(0), question(1)]);
    expect(program.predict.demos).toHaveLength(5);
    expect(program.compiled).toBe(true);
  });

  it('journals each example so a resumed run makes no LM call for it', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const runDir = join(mkdtempSync(join(tmpdir(), 'bfs-')), 'run');
    const first = oracle(6);
    settings.configure({ lm: first.lm });
    const a = await new BootstrapFewShot({ maxBootstrappedDemos: 3, maxLabeledDemos: 4 }).compile(new QA(), { trainset: qa(6), metric: exact, runDir });
    const again = oracle(6);
    settings.configure({ lm: again.lm });
    const b = await new BootstrapFewShot({ maxBootstrappedDemos: 3, maxLabeledDemos: 4 }).compile(new QA(), { trainset: qa(6), metric: exact, runDir });
    expect(again.dummy.calls).toBe(0);
    expect(b.program.predict.demos.map((d) => d.toDict())).toEqual(a.program.predict.demos.map((d) => d.toDict()));
  });
});

/** Two predictors; the second is never called. */
class WithUnused extends Module {
  predict = new Predict('question -> answer');
  unused = new Predict('answer -> summary');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.predict.call(inputs);
  }
}

/** Calls the same predictor twice per example (the second time on a rephrased question). */
class Twice extends Module {
  predict = new Predict('question -> answer');
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    await this.predict.call({ question: `again ${String(inputs['question'])}` });
    return this.predict.call(inputs);
  }
}

describe('BootstrapFewShot: traces', () => {
  it('a predictor the program did not call gets no bootstrapped demo; the others do', async () => {
    settings.configure({ lm: oracle(4).lm });
    const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 0 }).compile(new WithUnused(), { trainset: qa(4), metric: exact });
    expect(program.predict.demos.filter((d) => d.get('augmented'))).toHaveLength(2);
    expect(program.unused.demos).toEqual([]);
  });

  it('a predictor called several times in one example contributes one demo for it (DSPy: one trace step kept)', async () => {
    settings.configure({ lm: oracle(6).lm });
    const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 3, maxLabeledDemos: 0 }).compile(new Twice(), { trainset: qa(6), metric: exact });
    const demos = program.predict.demos;
    expect(demos).toHaveLength(3);
    for (const [i, d] of demos.entries()) expect([question(i), `again ${question(i)}`]).toContain(d.get('question'));
  });
});

describe('BootstrapFewShot: work and cancellation', () => {
  it('maxBootstrappedDemos 0 makes no LM call and gives labeled demos only', async () => {
    const { lm, dummy } = oracle(6);
    settings.configure({ lm });
    const { program, report } = await new BootstrapFewShot({ maxBootstrappedDemos: 0, maxLabeledDemos: 3 }).compile(new QA(), { trainset: qa(6), metric: exact });
    expect(dummy.calls).toBe(0);
    expect(report.bootstrapped).toBe(0);
    expect(program.predict.demos).toHaveLength(3);
  });

  it('reports progress per committed example', async () => {
    settings.configure({ lm: oracle(4, { wrong: (i) => i === 0 }).lm });
    const events: Array<[string, number | undefined, number | undefined]> = [];
    await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 0 }).compile(new QA(), {
      trainset: qa(4),
      metric: exact,
      onProgress: (e) => events.push([e.phase, e.trial, e.totalTrials]),
    });
    expect(events.filter((e) => e[0] === 'bootstrap')).toEqual([
      ['bootstrap', 1, 4],
      ['bootstrap', 2, 4],
      ['bootstrap', 3, 4],
    ]);
  });

  it('once the quota fills, examples still in flight are cancelled: their LM calls see the abort', async () => {
    // Examples 0-9 answer at once; later ones never answer unless their call is aborted.
    const hung: AbortSignal[] = [];
    const { lm, dummy } = oracle(30);
    const gen = dummy.generate.bind(dummy);
    dummy.generate = (m, o) => {
      const i = Number(/Q(\d{3})\?/.exec(m[m.length - 1]!.content)![1]);
      if (i < 10) return gen(m, o);
      if (o?.signal) hung.push(o.signal);
      return new Promise((_, reject) => o?.signal?.addEventListener('abort', () => reject(o.signal?.reason), { once: true }));
    };
    settings.configure({ lm });
    // A caller signal too: the calls must listen to both it and the walk's own cancellation.
    const caller = new AbortController();
    const { report } = await new BootstrapFewShot({ maxBootstrappedDemos: 10, maxLabeledDemos: 0 }).compile(new QA(), {
      trainset: qa(30),
      metric: exact,
      concurrency: 4,
      signal: caller.signal,
    });
    expect(report.bootstrapped).toBe(10);
    expect(report.cutShort).toBe(false);
    expect(hung.length).toBeGreaterThan(0);
    expect(hung.every((s) => s.aborted)).toBe(true);
  });

  it('an abort reaches the LM call in flight and ends the run cut short', async () => {
    const ac = new AbortController();
    const { lm, dummy } = oracle(4);
    dummy.generate = (_m, o) => {
      setTimeout(() => ac.abort(new Error('user stop')), 0);
      return new Promise((_, reject) => o?.signal?.addEventListener('abort', () => reject(o.signal?.reason), { once: true }));
    };
    settings.configure({ lm });
    const { report } = await new BootstrapFewShot({ maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(4), metric: exact, signal: ac.signal });
    expect(report.cutShort).toBe(true);
    expect(report.cutShortReason).toBe('aborted');
  });

  it('when successes are rare, more examples run at once as failures accumulate', async () => {
    const { lm, dummy } = oracle(60, { wrong: (i) => i < 40, latencyMs: 1 });
    const flight = trackInFlight(dummy);
    settings.configure({ lm });
    const { report } = await new BootstrapFewShot({ maxBootstrappedDemos: 1, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(60), metric: exact, concurrency: 8 });
    expect(report.bootstrapped).toBe(1);
    // Quota 1: alone that allows one example at a time; 40 committed failures allow 4 more.
    expect(flight.peak()).toBeGreaterThan(1);
  });

  it('refuses to resume a run directory journaled with other settings', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { JournalConfigMismatchError } = await import('../../src/optimizers/index.js');
    const runDir = join(mkdtempSync(join(tmpdir(), 'bfs-cfg-')), 'run');
    settings.configure({ lm: oracle(6).lm });
    await new BootstrapFewShot({ maxBootstrappedDemos: 2 }).compile(new QA(), { trainset: qa(6), metric: exact, runDir });
    await expect(new BootstrapFewShot({ maxBootstrappedDemos: 3 }).compile(new QA(), { trainset: qa(6), metric: exact, runDir })).rejects.toThrow(JournalConfigMismatchError);
    await expect(new BootstrapFewShot({ maxBootstrappedDemos: 2 }).compile(new QA(), { trainset: qa(5), metric: exact, runDir })).rejects.toThrow(JournalConfigMismatchError);
  });
});

/** Calls the same predictor three times per example. */
class Thrice extends Module {
  predict = new Predict('question -> answer');
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    await this.predict.call({ question: `first ${String(inputs['question'])}` });
    await this.predict.call({ question: `second ${String(inputs['question'])}` });
    return this.predict.call(inputs);
  }
}

describe('BootstrapFewShot: which of several steps becomes the demo', () => {
  it('sometimes an earlier step (any of them), sometimes the last, seeded by the demos', async () => {
    settings.configure({ lm: oracle(16).lm });
    const run = async () => {
      const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 16, maxLabeledDemos: 0 }).compile(new Thrice(), { trainset: qa(16), metric: exact });
      return program.predict.demos.map((d) => String(d.get('question')).split(' ')[0] ?? '');
    };
    const kinds = await run();
    expect(kinds).toHaveLength(16);
    expect(kinds).toContain('first');
    expect(kinds).toContain('second');
    expect(kinds.some((k) => k.startsWith('Q'))).toBe(true);
    expect(await run()).toEqual(kinds);
  });
});

