import type { LM } from '../../src/lm/types.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { PriceTable } from '../../src/lm/prices.js';
import { JournalConfigMismatchError, MIPROv2, programToJson } from '../../src/optimizers/index.js';
import { exact, followLM, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

const data = { trainset: qa(10), valset: qa(12, 10) };

function setup() {
  const task = oracle(22, { wrong: (i) => i % 4 === 0, needDemos: 3 });
  const prompt = followLM();
  settings.configure({ lm: task.lm });
  return { task, prompt };
}

describe('MIPROv2', () => {
  it('proposes instructions, searches with TPE on minibatches with full evals, and is deterministic', async () => {
    const run = async (runDir?: string) => {
      const { task, prompt } = setup();
      const opt = new MIPROv2({ auto: 'light', promptModel: prompt, minibatchSize: 5, minibatchFullEvalSteps: 4 });
      const r = await opt.compile(new QA(), { ...data, metric: exact, seed: 7, concurrency: 4, ...(runDir ? { runDir } : {}) });
      return { ...r, calls: task.dummy.calls };
    };
    const a = await run();
    expect(a.program.compiled).toBe(true);
    const kinds = a.report.trials.map((t) => t.kind);
    expect(kinds[0]).toBe('baseline');
    expect(kinds.filter((k) => k === 'minibatch')).toHaveLength(10);
    expect(kinds.filter((k) => k === 'full')).toHaveLength(3); // after trials 4, 8 and 10
    expect(a.report.trials.filter((t) => t.kind === 'minibatch').every((t) => t.size === 5)).toBe(true);
    expect(a.report.bestScore).toBeGreaterThan(a.report.baselineScore as number);
    const b = await run();
    expect(programToJson(b.program)).toBe(programToJson(a.program));

    // A journaled run, then the same run again: everything replays, no LM call.
    const dir = mkdtempSync(join(tmpdir(), 'mipro-'));
    const first = await run(dir);
    expect(programToJson(first.program)).toBe(programToJson(a.program));
    const again = await run(dir);
    expect(again.calls).toBe(0);
    expect(programToJson(again.program)).toBe(programToJson(a.program));
    expect(again.report.trials.every((t) => t.resumed)).toBe(true);
    // Same runDir, different config: refused.
    setup();
    await expect(new MIPROv2({ auto: 'light', promptModel: followLM(), minibatchSize: 6 }).compile(new QA(), { ...data, metric: exact, seed: 7, runDir: dir })).rejects.toThrow(
      JournalConfigMismatchError,
    );
  });

  it("candidate 0 is the original instruction; a stand-in prompt model's placeholders never reach the program", async () => {
    const { prompt } = setup();
    const opt = new MIPROv2({ auto: null, numCandidates: 3, numTrials: 12, promptModel: prompt, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 });
    const { report, program } = await opt.compile(new QA(), { ...data, metric: exact, seed: 1 });
    expect(report.trials.length).toBe(13);
    expect(report.trials[0]!.params).toEqual({ predict: { instruction: 0, demos: 0 } });
    // The search tried the other candidates too (proposals: see mipro_semantics.test.ts).
    expect(new Set(report.trials.map((t) => t.params?.['predict']?.instruction))).toEqual(new Set([0, 1, 2]));
    // followLM answers `proposed_instruction-<hex>`: no proposal, so every candidate is the original.
    expect(program.predict.signature.instructions).toBe(new QA().predict.signature.instructions);
  });

  it('the baseline (candidate 0) runs the original instruction, and only it is kept when only it works', async () => {
    const original = new QA().predict.signature.instructions;
    const task = oracle(22);
    const gen = task.dummy.generate.bind(task.dummy);
    const systems: string[] = [];
    // Right answers only under the original instruction: a proposal in slot 0 would score 0.
    task.dummy.generate = async (messages, o) => {
      const system = messages[0]!.content;
      systems.push(system);
      const r = await gen(messages, o);
      return system.includes(original) ? r : { ...r, text: '[[ ## answer ## ]]\nno idea\n\n[[ ## completed ## ]]' };
    };
    settings.configure({ lm: task.lm });
    // Proposals that read like instructions: a stand-in's bare placeholder counts as no proposal.
    const follow = followLM();
    const prompt: LM = {
      provider: follow.provider,
      model: follow.model,
      generate: async (m, o) => {
        const r = await follow.generate(m, o);
        return { ...r, text: r.text.replace(/proposed_instruction-([0-9a-f]{8})/g, 'Answer the question carefully (variant $1).') };
      },
    };
    const opt = new MIPROv2({ auto: null, numCandidates: 3, numTrials: 6, promptModel: prompt, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 });
    const { report, program } = await opt.compile(new QA(), { ...data, metric: exact, seed: 1 });
    expect(report.trials[0]!.kind).toBe('baseline');
    expect(report.baselineScore).toBe(100);
    expect(program.predict.signature.instructions).toBe(original);
    // The other candidates were proposed (and tried): some task calls ran without the original.
    expect(systems.some((s) => !s.includes(original))).toBe(true);
  });

  it('dryRun estimates calls (and cost for a priced LM) without spending anything', async () => {
    const inner = DummyLM.followExamples();
    const priced = new ManagedLM(Object.assign(inner, { model: 'claude-haiku-4-5' }), { cache: false, prices: new PriceTable() });
    settings.configure({ lm: priced });
    const events: string[] = [];
    const opt = new MIPROv2({ auto: 'light', dryRun: true });
    const { report, program } = await opt.compile(new QA(), { ...data, metric: exact, onProgress: (e) => events.push(e.message ?? '') });
    expect(inner.calls).toBe(0);
    const est = report.estimate!;
    expect(est.numCandidates).toBe(6);
    expect(est.numTrials).toBe(10);
    // the dataset summary (2 batch calls + the summary) + 2 proposals: light proposes N / 2 = 3
    // instruction candidates (the original and 2 new ones) when the program has demos, as DSPy
    expect(est.calls.proposal).toBe(2 + 2);
    // baseline + 10 minibatch trials (35 capped at the 12 val examples) + full evals after
    // trials 5 and 10 (DSPy's minibatch_full_eval_steps = 5)
    expect(est.calls.evaluation).toBe(12 + 10 * 12 + 2 * 12);
    expect(est.fullEvals).toBe(2);
    expect(est.costUsd?.expected).toBeGreaterThan(0);
    expect(events[0]).toMatch(/MIPROv2 dry run: 6 candidates, 10 trials/);
    expect(program.compiled).toBe(false);
  });
});
