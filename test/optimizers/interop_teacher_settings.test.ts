/**
 * `teacherSettings` (DSPy's `teacher_settings`): BootstrapFewShot runs the teacher, and the
 * metric check, inside `settings.context(teacherSettings, ...)` (dspy/teleprompt/bootstrap.py,
 * `with dspy.context(trace=[], **self.teacher_settings)`); random search and MIPROv2 pass the
 * setting on to every bootstrap they run.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatAdapter, JSONAdapter, settings, type Example, type Prediction } from '../../src/dspy/index.js';
import type { GenerateOptions } from '../../src/lm/types.js';
import {
  BootstrapFewShot,
  BootstrapFewShotWithRandomSearch,
  JournalConfigMismatchError,
  MIPROv2,
} from '../../src/optimizers/index.js';
import { exact, followLM, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

/** The student's LM knows nothing; the teacher's knows every answer. */
function setup(n: number) {
  const weak = oracle(n, { wrong: () => true });
  const strong = oracle(n);
  settings.configure({ lm: weak.lm });
  return { weak, strong };
}

const bootstrapped = (p: QA) => p.predict.demos.filter((d) => d.get('augmented') === true);

describe('BootstrapFewShot teacherSettings', () => {
  it("the teacher runs on the teacher's LM: demos bootstrap although the configured LM is wrong on every example", async () => {
    const { weak, strong } = setup(6);
    const without = await new BootstrapFewShot({ maxBootstrappedDemos: 3, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(6), metric: exact });
    expect(bootstrapped(without.program)).toHaveLength(0);
    const weakCalls = weak.dummy.calls;

    const opt = new BootstrapFewShot({ maxBootstrappedDemos: 3, maxLabeledDemos: 0, teacherSettings: { lm: strong.lm } });
    const { program } = await opt.compile(new QA(), { trainset: qa(6), metric: exact });
    expect(bootstrapped(program).map((d) => d.get('answer'))).toEqual(['A0', 'A1', 'A2']);
    expect(strong.dummy.calls).toBe(3);
    expect(weak.dummy.calls).toBe(weakCalls); // the student's LM is not used to bootstrap
  });

  it('the metric runs inside the teacher settings too (an LM-judge metric sees the teacher LM)', async () => {
    const { strong } = setup(2);
    const seen: unknown[] = [];
    const metric = (ex: Example, pred: Prediction) => {
      seen.push(settings.lm);
      return exact(ex, pred);
    };
    await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 0, teacherSettings: { lm: strong.lm } }).compile(new QA(), { trainset: qa(2), metric });
    expect(seen).toEqual([strong.lm, strong.lm]);
  });

  it("later rounds still take a fresh sample (rollout id and temperature 1.0 override the teacher's)", async () => {
    const { strong } = setup(1);
    const options: Array<GenerateOptions | undefined> = [];
    const gen = strong.dummy.generate.bind(strong.dummy);
    strong.dummy.generate = (m, o) => {
      options.push(o);
      return gen(m, o);
    };
    const never = () => false;
    await new BootstrapFewShot({ maxBootstrappedDemos: 1, maxLabeledDemos: 0, maxRounds: 2, teacherSettings: { lm: strong.lm, temperature: 0.3, rolloutId: 'teacher' } }).compile(
      new QA(),
      { trainset: qa(1), metric: never },
    );
    expect(options.map((o) => [o?.temperature, o?.rolloutId])).toEqual([
      [0.3, 'teacher'],
      [1, 1],
    ]);
  });

  it("a signal in the teacher settings does not hide the run's own: aborting the run cancels the teacher call in flight", async () => {
    setup(6);
    const strong = oracle(6, { latencyMs: 200 });
    const run = new AbortController();
    const gen = strong.dummy.generate.bind(strong.dummy);
    strong.dummy.generate = (m, o) => {
      queueMicrotask(() => run.abort()); // the run is cancelled while the first teacher call sleeps
      return gen(m, o);
    };
    const teacherSignal = new AbortController().signal; // never aborted
    const { program, report } = await new BootstrapFewShot({ maxBootstrappedDemos: 6, maxLabeledDemos: 0, teacherSettings: { lm: strong.lm, signal: teacherSignal } }).compile(
      new QA(),
      { trainset: qa(6), metric: exact, signal: run.signal },
    );
    expect(report.cutShort).toBe(true);
    expect(strong.dummy.calls).toBe(1);
    expect(bootstrapped(program)).toHaveLength(0); // the call was cancelled, not waited for
  });

  it("a run journal tells teacher LMs apart: resuming with another teacher's model is refused", async () => {
    const { strong } = setup(4);
    const dir = mkdtempSync(join(tmpdir(), 'teacher-journal-'));
    const opts = { trainset: qa(4), metric: exact, runDir: dir };
    await new BootstrapFewShot({ maxBootstrappedDemos: 2, teacherSettings: { lm: strong.lm } }).compile(new QA(), opts);
    const other = { provider: 'dummy', model: 'another-teacher', generate: strong.lm.generate.bind(strong.lm) };
    await expect(new BootstrapFewShot({ maxBootstrappedDemos: 2, teacherSettings: { lm: other } }).compile(new QA(), opts)).rejects.toThrow(JournalConfigMismatchError);
    // The same teacher resumes.
    await new BootstrapFewShot({ maxBootstrappedDemos: 2, teacherSettings: { lm: strong.lm } }).compile(new QA(), opts);
  });

  it('a resume needs the same teacher adapter class and callback count; a new signal or new callback objects do not matter', async () => {
    const { strong } = setup(4);
    const dir = mkdtempSync(join(tmpdir(), 'teacher-journal-'));
    const opts = { trainset: qa(4), metric: exact, runDir: dir };
    const teacher = (adapter: ChatAdapter | JSONAdapter, callbacks: number) => ({
      lm: strong.lm,
      adapter,
      callbacks: Array.from({ length: callbacks }, () => ({})),
      signal: new AbortController().signal,
    });
    await new BootstrapFewShot({ maxBootstrappedDemos: 2, teacherSettings: teacher(new ChatAdapter(), 1) }).compile(new QA(), opts);
    await new BootstrapFewShot({ maxBootstrappedDemos: 2, teacherSettings: teacher(new ChatAdapter(), 1) }).compile(new QA(), opts);
    await expect(new BootstrapFewShot({ maxBootstrappedDemos: 2, teacherSettings: teacher(new JSONAdapter(), 1) }).compile(new QA(), opts)).rejects.toThrow(
      JournalConfigMismatchError,
    );
    await expect(new BootstrapFewShot({ maxBootstrappedDemos: 2, teacherSettings: teacher(new ChatAdapter(), 2) }).compile(new QA(), opts)).rejects.toThrow(
      JournalConfigMismatchError,
    );
  });
});

describe('optimizers that bootstrap pass teacherSettings on', () => {
  it('BootstrapFewShotWithRandomSearch: its bootstrapped candidates are built with the teacher LM', async () => {
    const { strong } = setup(8);
    const opt = new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 1, maxBootstrappedDemos: 2, maxLabeledDemos: 0, teacherSettings: { lm: strong.lm } });
    await opt.compile(new QA(), { trainset: qa(4), valset: qa(4, 4), metric: exact, seed: 1 });
    // Seeds -1 and 0 bootstrap (2 demos, then 1 or 2): every bootstrap call went to the teacher.
    expect(strong.dummy.calls).toBeGreaterThanOrEqual(3);
    const without = setup(8);
    await new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 1, maxBootstrappedDemos: 2, maxLabeledDemos: 0 }).compile(new QA(), {
      trainset: qa(4),
      valset: qa(4, 4),
      metric: exact,
      seed: 1,
    });
    expect(without.strong.dummy.calls).toBe(0);
  });

  it('MIPROv2: its demo sets are bootstrapped with the teacher LM', async () => {
    const { strong } = setup(12);
    const opt = new MIPROv2({ auto: null, numCandidates: 3, numTrials: 1, minibatch: false, promptModel: followLM(), maxLabeledDemos: 0, teacherSettings: { lm: strong.lm } });
    await opt.compile(new QA(), { trainset: qa(6), valset: qa(6, 6), metric: exact, seed: 3 });
    expect(strong.dummy.calls).toBeGreaterThan(0);
    const again = setup(12);
    await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 1, minibatch: false, promptModel: followLM(), maxLabeledDemos: 0 }).compile(new QA(), {
      trainset: qa(6),
      valset: qa(6, 6),
      metric: exact,
      seed: 3,
    });
    expect(again.strong.dummy.calls).toBe(0);
  });
});
