import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { BootstrapFewShot, MIPROv2, saveProgram } from '../../src/optimizers/index.js';
import { answer, exact, followLM, Nested, oracle, question, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

describe('multi-predictor programs', () => {
  it('each trace step becomes a demo of the predictor (by path) that made it', async () => {
    const table: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 4; i++) {
      table[`[[ ## question ## ]]\n${question(i)}`] = { answer: answer(i) };
      table[`[[ ## answer ## ]]\n${answer(i)}`] = { summary: `S${i}` };
    }
    settings.configure({ lm: new ManagedLM(DummyLM.bySubstring(table), { cache: false }) });
    const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 2 }).compile(new Nested(), { trainset: qa(4), metric: exact });
    const json = saveProgram(program) as unknown as Record<string, { demos: Array<Record<string, unknown>> }>;
    expect(json['first.predict']?.demos).toEqual([
      { augmented: true, question: 'Q000?', answer: 'A0' },
      { augmented: true, question: 'Q001?', answer: 'A1' },
    ]);
    expect(json['steps[0]']?.demos).toEqual([
      { augmented: true, answer: 'A0', summary: 'S0' },
      { augmented: true, answer: 'A1', summary: 'S1' },
    ]);
  });
});

describe('budgets', () => {
  it('BootstrapFewShot cut short keeps the demos bootstrapped so far', async () => {
    const { lm, dummy } = oracle(10, { wrong: (i) => i % 2 === 0 });
    settings.configure({ lm });
    const { program, report } = await new BootstrapFewShot({ maxBootstrappedDemos: 4, maxLabeledDemos: 4 }).compile(new QA(), {
      trainset: qa(10),
      metric: exact,
      budget: { maxCalls: 4 },
    });
    expect(report.cutShort).toBe(true);
    expect(dummy.calls).toBe(4);
    expect(program.predict.demos.filter((d) => d.get('augmented')).map((d) => d.get('question'))).toEqual(['Q001?', 'Q003?']);
    expect(program.predict.demos).toHaveLength(4);
    expect(program.compiled).toBe(true);
  });

  it('MIPROv2 cut short returns the best program scored so far', async () => {
    const task = oracle(22, { needDemos: 2 });
    settings.configure({ lm: task.lm });
    const { report, program } = await new MIPROv2({ auto: 'light', promptModel: followLM(), minibatchSize: 4 }).compile(new QA(), {
      trainset: qa(10),
      valset: qa(12, 10),
      metric: exact,
      budget: { maxCalls: 75 },
      concurrency: 4,
    });
    expect(report.cutShort).toBe(true);
    expect(report.usage.calls).toBeLessThanOrEqual(75);
    expect(report.baselineScore).toBeDefined();
    expect(report.bestScore).toBeGreaterThanOrEqual(report.baselineScore as number);
    expect(program.compiled).toBe(true);
  });

  it("MIPROv2's prompt-model calls (dataset summary, proposals) count toward the run's budget", async () => {
    const task = oracle(22);
    settings.configure({ lm: task.lm });
    const prompt = followLM();
    // Zero-shot, 3 candidates: 2 summary calls + 2 proposals before any task call.
    const { report } = await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 2, promptModel: prompt, maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).compile(new QA(), {
      trainset: qa(10),
      valset: qa(12, 10),
      metric: exact,
      budget: { maxCalls: 3 },
    });
    expect(report.cutShort).toBe(true);
    expect(report.cutShortReason).toMatch(/budget/);
    expect(prompt.usage.snapshot().calls).toBe(3);
    expect(task.dummy.calls).toBe(0);
    expect(report.usage.calls).toBe(3);
  });
});
