// MIPROv2's run as DSPy's: the demo-set candidates (zero-shot, labeled only, bootstrapped in
// trainset order, then shuffled with a random count), the full evaluation of the best
// minibatch combination, what a resume replays, the order of the stages, and the settings
// checks. The run journal is the window onto the demo sets (one record per set).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { BudgetExceededError } from '../../src/lm/budget.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { PriceTable } from '../../src/lm/prices.js';
import type { ChatMessage, LM } from '../../src/lm/types.js';
import { decodeJournalLine } from '../../src/optimizers/journal.js';
import { JournalConfigMismatchError, MIPROv2, type ProgressEvent } from '../../src/optimizers/index.js';
import { exact, followLM, Nested, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

const data = { trainset: qa(10), valset: qa(12, 10) };
const ORIGINAL = new QA().predict.signature.instructions;

/** A prompt model that writes a summary and a distinct instruction per proposal. */
function promptModel(log?: string[]): { lm: LM; requests: ChatMessage[][] } {
  const follow = followLM();
  const requests: ChatMessage[][] = [];
  const lm: LM = {
    provider: 'test',
    model: 'prompt',
    generate: async (m, o) => {
      requests.push(m);
      log?.push(m[0]!.content.includes('proposed_instruction') ? 'propose' : 'summary');
      const r = await follow.generate(m, o);
      const text = r.text
        .replace(/proposed_instruction-([0-9a-f]{8})/g, 'Answer the question (variant $1).')
        .replace(/summary-[0-9a-f]{8}/g, 'Numbered questions.')
        .replace(/observations-[0-9a-f]{8}/g, 'Short questions.');
      return { ...r, text };
    },
  };
  return { lm, requests };
}

/** Journal records of a finished run in `dir`, by key. */
function journal(dir: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const line of readFileSync(join(dir, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const d = decodeJournalLine(line);
    if ('record' in d) {
      const r = d.record as { type: string; key?: string; value?: unknown };
      if (r.type === 'entry') out.set(r.key as string, r.value);
    }
  }
  return out;
}

describe('MIPROv2 demo-set candidates (DSPy create_n_fewshot_demo_sets)', () => {
  it('set 0 has no demos, set 1 labeled demos only, set 2 bootstrapped in trainset order, the rest from shuffled trainsets with 1..max bootstrapped', async () => {
    settings.configure({ lm: oracle(22).lm });
    const dir = mkdtempSync(join(tmpdir(), 'mipro-sets-'));
    await new MIPROv2({ auto: null, numCandidates: 8, numTrials: 1, promptModel: promptModel().lm, minibatch: false, maxBootstrappedDemos: 3, maxLabeledDemos: 2 }).compile(new QA(), {
      ...data,
      metric: exact,
      seed: 4,
      runDir: dir,
    });
    const rec = journal(dir);
    const sets = (seed: number) => (rec.get(`demos/${seed}`) as Array<Array<Record<string, unknown>>>)[0]!;
    const augmented = (ds: Array<Record<string, unknown>>) => ds.filter((d) => d.augmented === true).map((d) => d.question);
    expect(sets(-3)).toEqual([]);
    expect(sets(-2)).toHaveLength(2);
    expect(augmented(sets(-2))).toEqual([]);
    // DSPy samples the labeled set (LabeledFewShot with sample=True), not the first examples.
    expect(sets(-2).map((d) => d.question)).not.toEqual(['Q000?', 'Q001?']);
    expect(augmented(sets(-1))).toEqual(['Q000?', 'Q001?', 'Q002?']);
    const shuffled = [0, 1, 2, 3, 4].map((s) => augmented(sets(s)));
    for (const s of shuffled) {
      expect(s.length).toBeGreaterThanOrEqual(1);
      expect(s.length).toBeLessThanOrEqual(3);
    }
    // Shuffled: not all of them start at the trainset's first example; sizes vary.
    expect(shuffled.some((s) => s[0] !== 'Q000?')).toBe(true);
    expect(new Set(shuffled.map((s) => s.length)).size).toBeGreaterThan(1);
  });

  it('zero-shot builds the one empty demo set only', async () => {
    settings.configure({ lm: oracle(22).lm });
    const events: ProgressEvent[] = [];
    await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 1, promptModel: promptModel().lm, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).compile(new QA(), {
      ...data,
      metric: exact,
      onProgress: (e) => events.push(e),
    });
    expect(events.filter((e) => e.phase === 'demos').map((e) => e.message)).toEqual(['demo set for seed -3']);
  });

  it("the dry-run estimate walks the same demo sets: -1 bootstraps max demos, each shuffled set 1..max, per the run's seed", () => {
    settings.configure({ lm: oracle(2).lm });
    const opts = { trainset: qa(40), valset: qa(12, 40), metric: exact };
    const est = (o: Record<string, unknown>, seed = 0) =>
      new MIPROv2({ auto: null, numTrials: 2, maxBootstrappedDemos: 4, maxLabeledDemos: 0, ...o }).estimate(new QA(), { ...opts, seed }).calls.bootstrap;
    // Seeds -3, -2, -1: only -1 bootstraps, and it asks for all 4 demos.
    expect(est({ numCandidates: 3 })).toEqual({ expected: 4, max: 40 });
    expect(est({ numCandidates: 3, callsPerForward: 2 })).toEqual({ expected: 8, max: 80 });
    // Seeds -3..1: three walks.
    expect(est({ numCandidates: 5 }).max).toBe(120);
    // 17 shuffled sets draw their counts in 1..4: neither all 1 nor all 4, and the draw follows the seed.
    const many = [0, 1, 2, 3].map((seed) => est({ numCandidates: 20 }, seed).expected);
    for (const e of many) {
      expect(e).toBeGreaterThan(4 + 17);
      expect(e).toBeLessThan(4 + 17 * 4);
    }
    expect(new Set(many).size).toBeGreaterThan(1);
  });
});

describe('MIPROv2 full evaluations', () => {
  it('each full evaluation scores the combination with the best mean minibatch score not yet fully evaluated (ties: the first seen)', async () => {
    // A task LM whose accuracy depends on the instruction and the question, so combinations differ.
    const task = oracle(22);
    const gen = task.dummy.generate.bind(task.dummy);
    task.dummy.generate = async (messages, o) => {
      const r = await gen(messages, o);
      const text = messages.map((m) => m.content).join('');
      let h = 0;
      for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
      return h % 3 === 0 ? { ...r, text: '[[ ## answer ## ]]\nno idea\n\n[[ ## completed ## ]]' } : r;
    };
    settings.configure({ lm: task.lm });
    const { report } = await new MIPROv2({
      auto: null,
      numCandidates: 4,
      numTrials: 12,
      promptModel: promptModel().lm,
      minibatchSize: 3,
      minibatchFullEvalSteps: 3,
      nStartupTrials: 12,
      maxBootstrappedDemos: 1,
      maxLabeledDemos: 1,
    }).compile(new QA(), { ...data, metric: exact, seed: 3 });
    expect(report.trials.map((t) => t.trial)).toEqual(report.trials.map((_, i) => i));
    const key = (t: (typeof report.trials)[number]) => JSON.stringify(t.params);
    const fully = new Set([key(report.trials[0]!)]);
    const seen = new Map<string, number[]>();
    let fullEvals = 0;
    for (const t of report.trials.slice(1)) {
      if (t.kind === 'minibatch') {
        seen.set(key(t), [...(seen.get(key(t)) ?? []), t.score]);
        continue;
      }
      let best: { k: string; mean: number } | undefined;
      for (const [k, scores] of seen) {
        if (fully.has(k)) continue;
        const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
        if (!best || mean > best.mean) best = { k, mean };
      }
      expect(key(t)).toBe(best?.k);
      fully.add(key(t));
      fullEvals += 1;
    }
    expect(fullEvals).toBeGreaterThanOrEqual(3);
    expect(report.bestScore).toBe(Math.max(...report.trials.filter((t) => t.kind !== 'minibatch').map((t) => t.score)));
  });

  it('reports every stage: evaluations labelled baseline, minibatch and full_eval, a full_eval event per full evaluation', async () => {
    settings.configure({ lm: oracle(22).lm });
    const events: ProgressEvent[] = [];
    const { report } = await new MIPROv2({ auto: null, numCandidates: 2, numTrials: 4, promptModel: promptModel().lm, minibatchSize: 4, minibatchFullEvalSteps: 2, maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).compile(
      new QA(),
      { ...data, metric: exact, onProgress: (e) => events.push(e) },
    );
    const labels = new Set(events.filter((e) => e.phase === 'evaluate').map((e) => e.message));
    expect([...labels].sort()).toEqual(expect.arrayContaining(['baseline', 'minibatch']));
    const fullEvals = report.trials.filter((t) => t.kind === 'full').length;
    expect(events.filter((e) => e.phase === 'full_eval')).toHaveLength(fullEvals);
    if (fullEvals > 0) expect(labels.has('full_eval')).toBe(true);
    expect(report.trials.some((t) => 'resumed' in t)).toBe(false);
  });
});

describe('MIPROv2 proposals in a run', () => {
  it('at concurrency 1 asks in DSPy order: demo sets, then the dataset summary, then the proposals', async () => {
    const log: string[] = [];
    const task = oracle(22);
    const gen = task.dummy.generate.bind(task.dummy);
    task.dummy.generate = async (m, o) => {
      log.push('task');
      return gen(m, o);
    };
    settings.configure({ lm: task.lm });
    await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 1, promptModel: promptModel(log).lm, minibatch: false, maxBootstrappedDemos: 2, maxLabeledDemos: 0 }).compile(new QA(), {
      ...data,
      metric: exact,
    });
    const firstSummary = log.indexOf('summary');
    expect(firstSummary).toBeGreaterThan(0);
    expect(log.slice(0, firstSummary).every((x) => x === 'task')).toBe(true);
    expect(log.lastIndexOf('summary')).toBeLessThan(log.indexOf('propose'));
  });

  it('at any concurrency the proposals are grounded in the dataset summary', async () => {
    settings.configure({ lm: oracle(22).lm });
    for (const concurrency of [1, 3]) {
      const { lm, requests } = promptModel();
      await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 1, promptModel: lm, minibatch: false, maxBootstrappedDemos: 1, maxLabeledDemos: 1 }).compile(new QA(), {
        ...data,
        metric: exact,
        concurrency,
      });
      const props = requests.filter((m) => m[0]!.content.includes('proposed_instruction'));
      expect(props).toHaveLength(2);
      for (const p of props) expect(p[p.length - 1]!.content).toContain('[[ ## dataset_description ## ]]\nNumbered questions.');
    }
  });

  it('a failed dataset summary grounds nothing; a failed proposal is never tried: the original instruction stays', async () => {
    const task = oracle(22);
    const systems = new Set<string>();
    const gen = task.dummy.generate.bind(task.dummy);
    task.dummy.generate = async (m, o) => {
      systems.add(m[0]!.content);
      return gen(m, o);
    };
    settings.configure({ lm: task.lm });
    const requests: ChatMessage[][] = [];
    const failing: LM = {
      provider: 'test',
      model: 'failing',
      generate: async (m) => {
        requests.push(m);
        throw new Error('prompt model down');
      },
    };
    const { report } = await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 3, promptModel: failing, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).compile(new QA(), {
      ...data,
      metric: exact,
    });
    expect(report.errors).toBe(3); // the summary and two proposals
    expect([...systems].every((s) => s.includes(ORIGINAL))).toBe(true);
    // The summary failed: the proposals say there is none.
    const props = requests.filter((m) => m[0]!.content.includes('proposed_instruction'));
    for (const p of props) expect(p[p.length - 1]!.content).toContain('[[ ## dataset_description ## ]]\nNot available.');
  });

  it('asks the prompt model nothing when there is nothing to propose or it is not data-aware', async () => {
    settings.configure({ lm: oracle(22).lm });
    const one = promptModel();
    await new MIPROv2({ auto: null, numCandidates: 1, numTrials: 1, promptModel: one.lm, minibatch: false }).compile(new QA(), { ...data, metric: exact });
    expect(one.requests).toHaveLength(0);
    const blind = promptModel();
    await new MIPROv2({ auto: null, numCandidates: 2, numTrials: 1, promptModel: blind.lm, minibatch: false, dataAware: false }).compile(new QA(), { ...data, metric: exact });
    expect(blind.requests).toHaveLength(1); // the one proposal, no summary
    expect(new MIPROv2({ auto: null, numCandidates: 1 }).estimate(new QA(), { ...data, metric: exact }).calls.proposal).toBe(0);
  });

  it('numbers the proposals across predictors', async () => {
    settings.configure({ lm: followLM() });
    const events: ProgressEvent[] = [];
    await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 1, promptModel: promptModel().lm, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).compile(new Nested(), {
      ...data,
      metric: () => true,
      onProgress: (e) => events.push(e),
    });
    expect(events.filter((e) => e.phase === 'propose').map((e) => [e.trial, e.totalTrials])).toEqual([
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ]);
  });

  it('a budget running out in the summary or while proposing cuts the run short; it is not counted as a failure', async () => {
    for (const failAt of [1, 4]) {
      settings.configure({ lm: oracle(22).lm });
      const { lm } = promptModel();
      let n = 0;
      const runsOut: LM = { ...lm, generate: async (m, o) => (++n >= failAt ? Promise.reject(new BudgetExceededError('calls', 3, 3)) : lm.generate(m, o)) };
      const { report } = await new MIPROv2({ auto: null, numCandidates: 4, numTrials: 2, promptModel: runsOut, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).compile(new QA(), {
        ...data,
        metric: exact,
      });
      expect(report.cutShort, `fails at call ${failAt}`).toBe(true);
      expect(report.errors).toBe(0);
    }
  });
});

describe('MIPROv2 resume and settings', () => {
  it('a resumed run asks the prompt model nothing again; another prompt or task model is another run', async () => {
    settings.configure({ lm: oracle(22).lm });
    const dir = mkdtempSync(join(tmpdir(), 'mipro-resume-'));
    const opts = { ...data, metric: exact, runDir: dir };
    const mk = (promptLm: LM, taskLm?: LM) =>
      new MIPROv2({ auto: null, numCandidates: 3, numTrials: 2, promptModel: promptLm, ...(taskLm ? { taskModel: taskLm } : {}), minibatch: false, maxBootstrappedDemos: 1, maxLabeledDemos: 1 });
    const first = promptModel();
    await mk(first.lm).compile(new QA(), opts);
    expect(first.requests.length).toBeGreaterThan(0);
    const again = promptModel();
    await mk(again.lm).compile(new QA(), opts);
    expect(again.requests).toHaveLength(0);
    const other = promptModel();
    await expect(mk({ ...other.lm, model: 'another-prompt-model' }).compile(new QA(), opts)).rejects.toThrow(JournalConfigMismatchError);
    await expect(mk(again.lm, oracle(22).lm).compile(new QA(), opts)).rejects.toThrow(JournalConfigMismatchError);
    // One task model, then another.
    const dir2 = mkdtempSync(join(tmpdir(), 'mipro-task-'));
    const taskA = oracle(22).lm;
    await mk(promptModel().lm, taskA).compile(new QA(), { ...opts, runDir: dir2 });
    const taskB = new ManagedLM(Object.assign(oracle(22).dummy, { model: 'another-task-model' }), { cache: false });
    await expect(mk(promptModel().lm, taskB).compile(new QA(), { ...opts, runDir: dir2 })).rejects.toThrow(JournalConfigMismatchError);
  });

  it('passes metricThreshold on to bootstrapping: no demo below it', async () => {
    settings.configure({ lm: oracle(22).lm });
    const half = () => 0.5;
    const bootstrapped = async (threshold?: number) => {
      const dir = mkdtempSync(join(tmpdir(), 'mipro-threshold-'));
      await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 1, promptModel: promptModel().lm, minibatch: false, maxBootstrappedDemos: 2, maxLabeledDemos: 0, ...(threshold !== undefined ? { metricThreshold: threshold } : {}) }).compile(
        new QA(),
        { ...data, metric: half, runDir: dir },
      );
      return (journal(dir).get('demos/-1') as Array<Array<Record<string, unknown>>>)[0]!.length;
    };
    expect(await bootstrapped()).toBe(2);
    expect(await bootstrapped(0.9)).toBe(0);
    expect(await bootstrapped(0.5)).toBe(2);
  });

  it('refuses numCandidates or numTrials next to a preset; accepts one candidate; labeled demos alone are not zero-shot', () => {
    expect(() => new MIPROv2({ auto: 'light', numTrials: 5 })).toThrow(/auto/);
    expect(() => new MIPROv2({ auto: 'medium', numCandidates: 5 })).toThrow(/auto/);
    settings.configure({ lm: oracle(2).lm });
    expect(new MIPROv2({ auto: null, numCandidates: 1 }).estimate(new QA(), { ...data, metric: exact }).numCandidates).toBe(1);
    // Labeled demos only: two variables per predictor, so 6 candidates give DSPy's 10 trials (zero-shot: 9).
    expect(new MIPROv2({ auto: null, numCandidates: 6, maxBootstrappedDemos: 0 }).estimate(new QA(), { ...data, metric: exact }).numTrials).toBe(10);
    expect(new MIPROv2({ auto: null, numCandidates: 6, maxLabeledDemos: 0 }).estimate(new QA(), { ...data, metric: exact }).numTrials).toBe(10);
  });

  it('a dry run needs no progress listener, is not cut short, and reports the seed', async () => {
    const priced = new ManagedLM(Object.assign(DummyLM.followExamples(), { model: 'claude-haiku-4-5' }), { cache: false, prices: new PriceTable() });
    settings.configure({ lm: oracle(2).lm });
    const { report } = await new MIPROv2({ dryRun: true }).compile(new QA(), { ...data, metric: exact, seed: 5 });
    expect(report).toMatchObject({ cutShort: false, seed: 5, trials: [] });
    // A priced prompt model with an unpriced task model: the cost is unknown.
    expect(new MIPROv2({ promptModel: priced }).estimate(new QA(), { ...data, metric: exact }).costUsd).toBeUndefined();
  });
});
