import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Example, Module, Predict, settings, type Prediction } from '../../src/dspy/index.js';
import { ManagedLM } from '../../src/lm/managed.js';
import type { LM } from '../../src/lm/types.js';
import {
  chooseByRule,
  createOptimizer,
  dominates,
  exampleFronts,
  frontierFrequencies,
  GEPA,
  oneRoundMetricCalls,
  programToJson,
  qualityCostFront,
  sampleParent,
  type GepaReport,
} from '../../src/optimizers/index.js';
import { mergeInstructions, planMerge } from '../../src/optimizers/gepa/merge.js';
import { Rng } from '../../src/util/rng.js';
import { ruleText, rulesData, rulesMetric, rulesPromptLM, rulesTaskLM } from '../../bench/support/rules_task.mjs';

afterEach(() => settings.reset());

class Solve extends Module {
  solve = new Predict('question -> answer');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.solve.call(inputs);
  }
}

/** Two steps, so the round robin and per-predictor feedback have something to choose. */
class TwoStep extends Module {
  first = new Predict('question -> answer');
  second = new Predict('question, answer -> final');
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const a = await this.first.call(inputs);
    const f = await this.second.call({ question: inputs.question, answer: a.get('answer') });
    return f.copy({ answer: f.get('final') }) as Prediction;
  }
}

const examples = (n: number, offset = 0, categories = 4) =>
  rulesData(n, { categories, offset }).map((d) => new Example(d).withInputs('question'));

function lms() {
  const calls = { task: 0, prompt: 0 };
  const task = new ManagedLM(rulesTaskLM({ onCall: () => (calls.task += 1) }), { cache: false });
  const prompt = new ManagedLM(rulesPromptLM({ onCall: () => (calls.prompt += 1) }), { cache: false });
  return { task, prompt, calls };
}

function countingMetric() {
  const counter = { calls: 0 };
  const metric = (ex: Example, pred: Prediction) => {
    counter.calls += 1;
    return rulesMetric(ex, pred);
  };
  return { metric, counter };
}

describe('GEPA Pareto selection (hand-computed)', () => {
  // candidates x examples
  const scores = [
    [1, 0, 0, 1], // c0: best on e0, e3
    [0, 1, 0, 1], // c1: best on e1, e3
    [0, 0, 1, 0], // c2: best on e2
    [0, 0, 0, 1], // c3: on e3's front, but dominated by c0 and c1
  ];

  it('finds each example\'s front and removes dominated candidates', () => {
    expect(exampleFronts(scores)).toEqual([[0], [1], [2], [0, 1, 3]]);
    expect(dominates([1, 0, 0, 1], [0, 0, 0, 1])).toBe(true);
    expect(dominates([1, 0], [0, 1])).toBe(false);
    expect(dominates([1, 1], [1, 1])).toBe(false);
    expect(frontierFrequencies(scores)).toEqual([
      { candidate: 0, frequency: 2 },
      { candidate: 1, frequency: 2 },
      { candidate: 2, frequency: 1 },
    ]);
  });

  it('samples parents in proportion to their frequency, never a dominated one', () => {
    const rng = new Rng(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 5000; i++) {
      const c = sampleParent(scores, rng);
      counts[c] = (counts[c] as number) + 1;
    }
    // Weights 2:2:1 over c0, c1, c2; c3 never.
    expect(counts[3]).toBe(0);
    const total = counts.reduce((a, b) => a + b, 0);
    expect((counts[0] as number) / total).toBeGreaterThan(0.35);
    expect((counts[0] as number) / total).toBeLessThan(0.45);
    expect((counts[2] as number) / total).toBeGreaterThan(0.15);
    expect((counts[2] as number) / total).toBeLessThan(0.25);
  });

  it('keeps candidates that tie everywhere (neither dominates)', () => {
    // Both are on both examples' fronts (a 0 that nobody beats is a best score too).
    expect(frontierFrequencies([[1, 0], [1, 0]])).toEqual([
      { candidate: 0, frequency: 2 },
      { candidate: 1, frequency: 2 },
    ]);
  });

  it('builds the quality/cost front and chooses by the named rule', () => {
    const pts = [
      { candidate: 0, score: 50, costUsd: 0.01, tokens: 100 },
      { candidate: 1, score: 80, costUsd: 0.05, tokens: 500 },
      { candidate: 2, score: 78, costUsd: 0.02, tokens: 200 },
      { candidate: 3, score: 70, costUsd: 0.03, tokens: 300 }, // dominated by 2
    ];
    expect(qualityCostFront(pts).map((p) => p.candidate)).toEqual([0, 2, 1]);
    expect(chooseByRule(pts, 'best')).toBe(1);
    expect(chooseByRule(pts, { cheapestWithin: 5 })).toBe(2);
    expect(chooseByRule(pts, { cheapestWithin: 0 })).toBe(1);
    expect(chooseByRule(pts, { cheapestWithin: 100 })).toBe(0);
    // Unpriced: tokens decide.
    const unpriced = pts.map((p) => ({ ...p, costUsd: 0 }));
    expect(qualityCostFront(unpriced).map((p) => p.candidate)).toEqual([0, 2, 1]);
  });
});

describe('GEPA merge (hand-computed)', () => {
  const lineage = {
    instructions: [
      ['a0', 'b0'], // 0: seed
      ['a1', 'b0'], // 1: changed predictor 0
      ['a0', 'b2'], // 2: changed predictor 1
      ['a3', 'b0'], // 3: changed predictor 0 (from 1)
    ],
    parents: [[], [0], [0], [1]],
  };

  it('takes each predictor from the side that changed it', () => {
    expect(mergeInstructions(lineage, 1, 2, 0, 1)).toEqual(['a1', 'b2']);
    // Only one side changed anything: the merge would equal it.
    expect(mergeInstructions(lineage, 1, 3, 0, 3)).toBeUndefined();
  });

  it('plans a merge of two lineages with a common ancestor, never of a candidate and its descendant', () => {
    const plan = planMerge(lineage, [1, 2, 3], () => 0, new Set(), new Rng(1));
    expect(plan).toBeDefined();
    expect(new Set([plan!.a, plan!.b])).not.toEqual(new Set([1, 3]));
    expect(plan!.ancestor).toBe(0);
    expect(plan!.instructions[1]).toBe('b2');
    // Already tried: nothing new left for (1, 2); (2, 3) gives ['a3', 'b2'].
    const again = planMerge(lineage, [1, 2], () => 0, new Set([JSON.stringify(['a1', 'b2'])]), new Rng(1));
    expect(again).toBeUndefined();
  });
});

describe('GEPA compile', () => {
  it('learns the rules from feedback: accepts only children that beat their parent, and improves the valset score', async () => {
    const { task, prompt } = lms();
    settings.configure({ lm: task });
    const { metric } = countingMetric();
    const gepa = new GEPA({ maxMetricCalls: 200, reflectionLm: prompt });
    const trainset = examples(16);
    const valset = examples(12, 100);
    const r = await gepa.compile(new Solve(), { trainset, valset, metric, seed: 3 });
    const report = r.gepa as GepaReport;
    expect(r.report.baselineScore).toBe(0);
    expect(r.report.bestScore).toBe(100);
    // Every accepted candidate beat its parent: its val score is above the seed's here.
    for (const c of report.candidates.slice(1)) expect(c.score).toBeGreaterThan(0);
    // The chosen program's instruction states every rule.
    const ins = r.program.solve.signature.instructions;
    for (let c = 0; c < 4; c++) expect(ins).toContain(ruleText(c));
    // Accepted children are scored on the valset; rejected ones never are.
    const fulls = r.report.trials.filter((t) => t.kind === 'full').length;
    expect(fulls).toBe(report.accepted);
  });

  it('rejects a proposal that does not beat its parent on the minibatch', async () => {
    const { task } = lms();
    settings.configure({ lm: task });
    // A reflection LM that always proposes the same useless instruction.
    const useless: LM = {
      provider: 'simulated',
      model: 'useless',
      async generate() {
        return { text: '[[ ## new_instruction ## ]]\nBe careful.\n\n[[ ## completed ## ]]', usage: { inputTokens: 1, outputTokens: 1 }, model: 'useless', cached: false, costUsd: 0 };
      },
    };
    const r = await new GEPA({ maxMetricCalls: 60, reflectionLm: useless }).compile(new Solve(), {
      trainset: examples(8),
      valset: examples(8, 50),
      metric: rulesMetric,
      seed: 1,
    });
    expect((r.gepa as GepaReport).accepted).toBe(0);
    expect((r.gepa as GepaReport).candidates).toHaveLength(1);
    expect((r.gepa as GepaReport).warnings.join(' ')).toMatch(/no proposal was accepted/);
    expect(r.program.solve.signature.instructions).toBe(new Solve().solve.signature.instructions);
  });

  it('an unreadable reflection answer is a failed proposal: the run goes on, nothing scored for it', async () => {
    const { task } = lms();
    settings.configure({ lm: task });
    let asked = 0;
    const garbled: LM = {
      provider: 'simulated',
      model: 'garbled',
      async generate() {
        asked += 1;
        return { text: 'I would rather not answer in fields.', usage: { inputTokens: 1, outputTokens: 1 }, model: 'garbled', cached: false, costUsd: 0 };
      },
    };
    const { metric, counter } = countingMetric();
    const r = await new GEPA({ maxMetricCalls: 40, reflectionLm: garbled }).compile(new Solve(), {
      trainset: examples(6),
      valset: examples(4, 50),
      metric,
      seed: 4,
    });
    const g = r.gepa as GepaReport;
    expect(asked).toBeGreaterThan(0);
    expect(g.iterations).toBeGreaterThan(1);
    expect(g.accepted).toBe(0);
    // No child was built: each iteration scored only its parent's minibatch (3), after the seed (4).
    expect(counter.calls).toBe(4 + 3 * g.iterations);
    expect(r.report.trials.some((t) => t.kind === 'minibatch')).toBe(false);
  });

  it('never makes one metric call past maxMetricCalls, whatever the budget', async () => {
    for (const max of [7, 20, 23, 41, 64]) {
      const { task, prompt } = lms();
      settings.configure({ lm: task });
      const { metric, counter } = countingMetric();
      const r = await new GEPA({ maxMetricCalls: max, reflectionLm: prompt, skipPerfectScore: false }).compile(new Solve(), {
        trainset: examples(10),
        valset: examples(6, 40),
        metric,
        seed: 5,
        concurrency: 4,
      });
      expect(counter.calls, `max ${max}`).toBeLessThanOrEqual(max);
      expect((r.gepa as GepaReport | undefined)?.metricCalls.used ?? counter.calls).toBe(counter.calls);
    }
  });

  it('warns before spending when the budget cannot cover one full round', async () => {
    const { task, prompt } = lms();
    settings.configure({ lm: task });
    const events: string[] = [];
    const r = await new GEPA({ maxMetricCalls: 10, reflectionLm: prompt }).compile(new Solve(), {
      trainset: examples(10),
      valset: examples(6, 40),
      metric: rulesMetric,
      onProgress: (e) => {
        if (e.phase === 'warning') events.push(`${e.calls}:${e.message}`);
      },
    });
    expect(oneRoundMetricCalls(6, 3)).toBe(18);
    // The warning comes first, before any LM call was made.
    expect(events[0]).toMatch(/^0:.*cannot cover one full round \(18/);
    expect((r.gepa as GepaReport).iterations).toBe(0);
  });

  it('is deterministic: the same seed gives the same saved program, byte for byte', async () => {
    const run = async (seed: number) => {
      const { task, prompt } = lms();
      settings.configure({ lm: task });
      const r = await new GEPA({ maxMetricCalls: 90, reflectionLm: prompt }).compile(new TwoStep(), {
        trainset: examples(12, 0, 6),
        valset: examples(8, 60, 6),
        metric: rulesMetric,
        seed,
        concurrency: 3,
      });
      return JSON.stringify(programToJson(r.program));
    };
    const a = await run(11);
    expect(await run(11)).toBe(a);
  });

  it('resumes from its journal with the identical program and no repeated work', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gepa-resume-'));
    try {
      const opts = { maxMetricCalls: 120, useMerge: true } as const;
      const data = { trainset: examples(12, 0, 6), valset: examples(8, 60, 6), metric: rulesMetric, seed: 4 };
      const full = lms();
      settings.configure({ lm: full.task });
      const whole = await new GEPA({ ...opts, reflectionLm: full.prompt }).compile(new TwoStep(), data);

      // Interrupted: abort after a few LM calls, then resume in the same run dir.
      const first = lms();
      settings.configure({ lm: first.task });
      const ac = new AbortController();
      let seen = 0;
      const cut = await new GEPA({ ...opts, reflectionLm: first.prompt }).compile(new TwoStep(), {
        ...data,
        runDir: dir,
        signal: ac.signal,
        onProgress: (e) => {
          if (e.phase === 'trial' && ++seen === 3) ac.abort();
        },
      });
      expect(cut.report.cutShort).toBe(true);
      const second = lms();
      settings.configure({ lm: second.task });
      const resumed = await new GEPA({ ...opts, reflectionLm: second.prompt }).compile(new TwoStep(), { ...data, runDir: dir });
      expect(JSON.stringify(programToJson(resumed.program))).toBe(JSON.stringify(programToJson(whole.program)));
      expect(resumed.report.trials.some((t) => t.resumed)).toBe(true);
      // The resumed run did less work than the whole run.
      expect(second.calls.task + second.calls.prompt).toBeLessThan(full.calls.task + full.calls.prompt);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends per-step feedback to the step it concerns', async () => {
    const { task } = lms();
    settings.configure({ lm: task });
    const seen: string[] = [];
    const reflector: LM = {
      provider: 'simulated',
      model: 'spy',
      async generate(messages) {
        seen.push(messages[messages.length - 1]?.content ?? '');
        return { text: '[[ ## new_instruction ## ]]\nNew.\n\n[[ ## completed ## ]]', usage: { inputTokens: 1, outputTokens: 1 }, model: 'spy', cached: false, costUsd: 0 };
      },
    };
    const metric = (ex: Example, pred: Prediction) => ({
      score: 0,
      feedback: 'overall',
      byPredictor: { first: 'about the first step', second: 'about the second step' },
    });
    await new GEPA({ maxMetricCalls: 40, reflectionLm: reflector }).compile(new TwoStep(), {
      trainset: examples(6),
      valset: examples(4, 30),
      metric,
      seed: 2,
    });
    expect(seen.length).toBeGreaterThanOrEqual(2);
    // Round robin: the first reflection is about `first`, the second about `second`.
    expect(seen[0]).toContain('about the first step');
    expect(seen[0]).not.toContain('about the second step');
    expect(seen[1]).toContain('about the second step');
  });

  it('splits the trainset when no valset is given, and chooses the cheapest program within N points', async () => {
    const { task, prompt } = lms();
    settings.configure({ lm: task });
    const r = await new GEPA({ maxMetricCalls: 150, reflectionLm: prompt, select: { cheapestWithin: 100 } }).compile(new Solve(), {
      trainset: examples(20),
      metric: rulesMetric,
      seed: 9,
    });
    const report = r.gepa as GepaReport;
    expect(report.candidates[0]?.score).toBe(0);
    // Within 100 points every candidate qualifies: the cheapest (shortest prompt) is the seed.
    const cheapest = [...report.candidates].sort((a, b) => a.tokens - b.tokens)[0];
    expect(report.selected).toBe(cheapest?.index);
    expect(report.front.length).toBeGreaterThanOrEqual(1);
  });

  it('estimates a dry run without any LM call, and is reachable by name', async () => {
    const { task, prompt, calls } = lms();
    settings.configure({ lm: task });
    const gepa = createOptimizer('GEPA', { auto: 'light', dryRun: true }, { reflectionModel: prompt });
    const r = await gepa.compile(new Solve(), { trainset: examples(10), valset: examples(10, 40), metric: rulesMetric });
    expect(calls.task + calls.prompt).toBe(0);
    expect(r.report.estimate?.summary).toMatch(/GEPA dry run: at most \d+ metric calls/);
    expect(() => createOptimizer('GEPA', { auto: 'light', maxMetricCalls: 3 })).toThrow(/exactly one/);
    expect(() => createOptimizer('GEPA', { select: { cheapestWithin: -1 } })).toThrow(/cheapestWithin/);
  });
});
