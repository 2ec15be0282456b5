/**
 * Random search's ranked candidates (DSPy: `compiled.candidate_programs`,
 * dspy/teleprompt/random_search.py: `sorted(score_data, key=lambda x: x["score"], reverse=True)`,
 * each `{score, subscores, seed, program}`). Python's sort is stable, also with reverse=True:
 * equal scores keep the order they were scored in, which is seed order.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { BootstrapFewShotWithRandomSearch, programToJson } from '../../src/optimizers/index.js';
import { exact, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

/** Knows every answer, but gives it only when the prompt shows at least `need` demos. */
const needsDemos = (need: number) => oracle(20, { needDemos: need }).lm;

function knowingTeacher(n: number): QA {
  const t = new QA();
  t.setLM(oracle(n).lm);
  return t;
}

describe('random search lists every candidate, best first', () => {
  it('each scored candidate with its seed, score and per-example scores; the best one is the returned program', async () => {
    // Right only with 3 demos or more: -3 (0 demos) 0, -2 (2 labeled) 0, -1 (4 bootstrapped) 100,
    // seeds 0 and 1 (1..4 bootstrapped, seeded) either.
    settings.configure({ lm: needsDemos(3) });
    const valset = qa(4, 10);
    const rs = new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 2, maxBootstrappedDemos: 4, maxLabeledDemos: 2 });
    const result = await rs.compile(new QA(), { trainset: qa(6), valset, teacher: knowingTeacher(20), metric: exact, seed: 5 });
    const { candidatePrograms, program, report } = result;

    expect(candidatePrograms.map((c) => c.seed).sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1]);
    const scores = candidatePrograms.map((c) => c.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(candidatePrograms[0]!.program).toBe(program);
    expect(candidatePrograms[0]!.score).toBe(report.bestScore);
    // The same scores the report's trials show, per seed.
    const bySeed = new Map(report.trials.map((t) => [t.seed, t.score]));
    for (const c of candidatePrograms) expect(c.score).toBe(bySeed.get(c.seed));
    for (const c of candidatePrograms) {
      expect(c.subscores).toHaveLength(valset.length);
      const mean = (c.subscores as number[]).reduce((a, b) => a + b, 0) / valset.length;
      expect(c.score).toBe(Math.round(mean * 10000) / 100);
    }
    // Each entry is that candidate's own program: the zero-shot one has no demos, the labeled one two.
    const seed = (s: number) => candidatePrograms.find((c) => c.seed === s)!.program;
    expect(seed(-3).predict.demos).toHaveLength(0);
    expect(seed(-2).predict.demos).toHaveLength(2);
    expect(seed(-1).predict.demos.filter((d) => d.get('augmented') === true)).toHaveLength(4);
  });

  it('equal scores keep seed order (Python sorted(..., reverse=True) is stable)', async () => {
    settings.configure({ lm: needsDemos(1) }); // every candidate with a demo scores 100
    const rs = new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 2, maxBootstrappedDemos: 2, maxLabeledDemos: 2 });
    const { candidatePrograms } = await rs.compile(new QA(), { trainset: qa(6), valset: qa(3, 10), teacher: knowingTeacher(20), metric: exact });
    expect(candidatePrograms.map((c) => [c.seed, c.score])).toEqual([
      [-2, 100],
      [-1, 100],
      [0, 100],
      [1, 100],
      [-3, 0],
    ]);
  });

  it('stopAtScore: only the candidates scored before the stop are listed', async () => {
    settings.configure({ lm: needsDemos(1) });
    const rs = new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 4, maxLabeledDemos: 2, stopAtScore: 100 });
    const { candidatePrograms } = await rs.compile(new QA(), { trainset: qa(6), valset: qa(3, 10), metric: exact });
    expect(candidatePrograms.map((c) => c.seed)).toEqual([-2, -3]);
  });

  it('a resumed run lists the candidates read back from its journal, with their subscores', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rs-candidates-'));
    const opts = { trainset: qa(6), valset: qa(3, 10), teacher: knowingTeacher(20), metric: exact, runDir: dir, seed: 2 };
    settings.configure({ lm: needsDemos(3) });
    const rs = () => new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 1, maxBootstrappedDemos: 3, maxLabeledDemos: 2 });
    const first = await rs().compile(new QA(), opts);
    const again = await rs().compile(new QA(), opts);
    expect(again.report.trials.every((t) => t.resumed)).toBe(true);
    expect(again.candidatePrograms.map((c) => [c.seed, c.score, c.subscores])).toEqual(first.candidatePrograms.map((c) => [c.seed, c.score, c.subscores]));
    expect(again.candidatePrograms.map((c) => programToJson(c.program))).toEqual(first.candidatePrograms.map((c) => programToJson(c.program)));
  });

  it('a run cut short lists what it scored before the stop', async () => {
    settings.configure({ lm: needsDemos(1) });
    const ac = new AbortController();
    const rs = new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 4, maxLabeledDemos: 2 });
    const { candidatePrograms, report } = await rs.compile(new QA(), {
      trainset: qa(6),
      valset: qa(3, 10),
      metric: exact,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.phase === 'candidate' && e.trial === 2) ac.abort();
      },
    });
    expect(report.cutShort).toBe(true);
    expect(candidatePrograms.map((c) => c.seed)).toEqual([-2, -3]);
  });
});
