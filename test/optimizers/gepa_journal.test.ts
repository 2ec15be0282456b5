/**
 * GEPA runs a user stops, resumes or repeats: a run directory refuses a journal written with
 * other options, LMs or data; a finished run of skipped iterations replays with no work; a run
 * stopped before it scored anything returns the program as written; and the train/val split
 * without a valset is the seed's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Example, Module, Predict, settings, type Prediction } from '../../src/dspy/index.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { GEPA, JournalConfigMismatchError, type GepaReport } from '../../src/optimizers/index.js';
import { ruleText, rulesMetric, rulesTaskLM } from '../../bench/support/rules_task.mjs';

afterEach(() => settings.reset());

const item = (c: number, n: number) => new Example({ question: `category ${c}: item ${n}`, answer: String(n * (c + 2)) }).withInputs('question');
const ALL_RULES = [0, 1, 2, 3].map(ruleText).join(' ');

class Solve extends Module {
  solve = new Predict('question -> answer');
  constructor(instruction = 'Answer.') {
    super();
    this.solve.signature = this.solve.signature.withInstructions(instruction);
  }
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.solve.call(inputs);
  }
}

const task = (model = 'rules-task') => new ManagedLM(rulesTaskLM({ model }), { cache: false });
const trainset = [item(0, 1), item(1, 2), item(2, 3), item(3, 4)];
const valset = [item(0, 5), item(1, 6)];

function counted() {
  const seen: string[] = [];
  return { seen, metric: (ex: Example, pred: Prediction) => (seen.push(String(ex.get('question'))), rulesMetric(ex, pred)) };
}

describe('GEPA run directories', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'gepa-journal-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('refuses to resume a journal written with other options, reflection or task LM, or data', async () => {
    const dir = tmp();
    settings.configure({ lm: task() });
    const base = { maxMetricCalls: 12, reflectionLm: task('reflect-a'), taskLm: task('task-a') };
    await new GEPA(base).compile(new Solve(ALL_RULES), { trainset, valset, metric: rulesMetric, runDir: dir });
    const differing = [
      { ...base, maxMetricCalls: 13 },
      { ...base, reflectionMinibatchSize: 2 },
      { ...base, reflectionLm: task('reflect-b') },
      { ...base, taskLm: task('task-b') },
    ];
    for (const opts of differing) {
      await expect(new GEPA(opts).compile(new Solve(ALL_RULES), { trainset, valset, metric: rulesMetric, runDir: dir })).rejects.toBeInstanceOf(JournalConfigMismatchError);
    }
    await expect(new GEPA(base).compile(new Solve(ALL_RULES), { trainset, valset: [item(0, 5), item(1, 7)], metric: rulesMetric, runDir: dir })).rejects.toBeInstanceOf(
      JournalConfigMismatchError,
    );
    await expect(new GEPA(base).compile(new Solve('Other.'), { trainset, valset, metric: rulesMetric, runDir: dir })).rejects.toBeInstanceOf(JournalConfigMismatchError);
    // The same run resumes.
    const again = await new GEPA(base).compile(new Solve(ALL_RULES), { trainset, valset, metric: rulesMetric, runDir: dir });
    expect(again.report.cutShort).toBe(false);
  });

  it('replays a finished run of skipped iterations with no metric call and the same budget used', async () => {
    const dir = tmp();
    const runOnce = async () => {
      settings.configure({ lm: task() });
      const { seen, metric } = counted();
      const r = await new GEPA({ maxMetricCalls: 2 + 3 * 3 + 6 }).compile(new Solve(ALL_RULES), { trainset, valset, metric, seed: 4, runDir: dir });
      return { r, seen };
    };
    const first = await runOnce();
    const g1 = first.r.gepa as GepaReport;
    expect(first.r.report.trials.slice(1).every((t) => t.kind === 'skip')).toBe(true);
    expect(g1.metricCalls.used).toBe(first.seen.length);
    const second = await runOnce();
    expect(second.seen).toEqual([]);
    expect(second.r.gepa).toEqual(g1);
    expect(second.r.report.trials.every((t) => t.resumed === true)).toBe(true);
  });
});

describe('GEPA stopped or split', () => {
  it('stopped before anything was scored: the program as written, no candidates', async () => {
    settings.configure({ lm: task() });
    const ac = new AbortController();
    ac.abort();
    const { seen, metric } = counted();
    const r = await new GEPA({ maxMetricCalls: 50 }).compile(new Solve('Mine.'), { trainset, valset, metric, signal: ac.signal });
    expect(r.report.cutShort).toBe(true);
    expect(seen).toEqual([]);
    expect(r.program.solve.signature.instructions).toBe('Mine.');
    const g = r.gepa as GepaReport;
    expect(g.candidates).toEqual([]);
    expect(g.selected).toBe(0);
    expect(r.report.bestScore).toBeUndefined();
  });

  it('without a valset, holds out a seeded part of the trainset: the same seed the same examples', async () => {
    const heldOut = async (seed: number | undefined) => {
      settings.configure({ lm: task() });
      const { seen, metric } = counted();
      const data = Array.from({ length: 10 }, (_, i) => item(i % 4, 10 + i));
      // Budget for the seed candidate only: what is scored is the validation part.
      await new GEPA({ maxMetricCalls: 5 }).compile(new Solve(ALL_RULES), { trainset: data, metric, ...(seed === undefined ? {} : { seed }) });
      return seen.sort();
    };
    const a = await heldOut(1);
    expect(a).toHaveLength(5);
    expect(await heldOut(1)).toEqual(a);
    const others = [await heldOut(2), await heldOut(3), await heldOut(4)];
    expect(others.some((o) => JSON.stringify(o) !== JSON.stringify(a))).toBe(true);
    expect(await heldOut(undefined)).toEqual(await heldOut(0));
  });
});
