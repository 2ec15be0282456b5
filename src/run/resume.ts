/**
 * A run's journals and what resuming one reports. The optimizer journals its own units of
 * work in `<runDir>/journal.jsonl` (src/optimizers/journal.ts); the run journals each held-out
 * example it scores, before and after optimizing, in `<runDir>/scores/journal.jsonl`. The
 * same run id finds both again: finished work is read back, the rest is run.
 */
import { join } from 'node:path';
import type { Example, Module } from '../dspy/index.js';
import { journaledEntries, RunJournal } from '../optimizers/journal.js';
import { maxIterations, presetMetricCalls } from '../optimizers/gepa/budget.js';
import { programToJson } from '../optimizers/program_io.js';
import { hashJson } from '../util/canonical_json.js';
import type { MetricSpec } from './prepare.js';

export const SCORES_DIR = 'scores';

/** Opens (or finds again) the journal of the run's held-out scores. */
export function openScoresJournal(
  runDir: string,
  run: { program: Module; valset: readonly Example[]; metricSpec: MetricSpec; seed: number; outDir?: string },
): RunJournal {
  return RunJournal.open(join(runDir, SCORES_DIR), {
    optimizer: 'held-out scores',
    configHash: hashJson({
      student: programToJson(run.program),
      valset: run.valset.map((e) => e.toDict()),
      metric: run.metricSpec,
      seed: run.seed,
    }),
    ...(run.outDir !== undefined ? { root: run.outDir } : {}),
  });
}

/** Units of work already journaled for the run in `runDir` (0: a fresh run). */
export function journaledWork(runDir: string): { optimizer: number; scores: number } {
  return { optimizer: journaledEntries(runDir), scores: journaledEntries(join(runDir, SCORES_DIR)) };
}

/**
 * Units the optimizer journals in a whole run, at most: one per trainset example walked
 * (bootstrap), per candidate scored (random search), per demo set, proposal and trial (MIPROv2),
 * the seed candidate and each iteration (GEPA; `valSize` is its validation set).
 */
export function plannedOptimizerUnits(name: string, options: Record<string, unknown>, trainSize: number, predictors: number, valSize = 0): number {
  const num = (k: string, d: number) => (typeof options[k] === 'number' ? (options[k] as number) : d);
  switch (name) {
    case 'BootstrapFewShot':
      return trainSize;
    case 'BootstrapFewShotWithRandomSearch': {
      const n = num('numCandidatePrograms', 16);
      return n + 3 + (n + 1) * trainSize;
    }
    case 'MIPROv2': {
      const presets: Record<string, number> = { light: 6, medium: 12, heavy: 18 };
      const n = options.auto === null || options.numCandidates !== undefined ? num('numCandidates', 6) : (presets[String(options.auto ?? 'light')] ?? 6);
      const trials = num('numTrials', Math.max(2 * 2 * predictors * Math.log2(Math.max(n, 2)), 1.5 * n));
      // A preset with demos proposes int(n / 2) instructions per predictor, as DSPy's
      // _set_hyperparams_from_run_mode does; the original instruction is one of them.
      const preset = !(options.auto === null || options.numCandidates !== undefined);
      const zeroShot = options.maxBootstrappedDemos === 0 && options.maxLabeledDemos === 0;
      const instructions = preset && !zeroShot ? Math.floor(n / 2) : n;
      return n * (1 + trainSize) + 1 + predictors * (instructions - 1) + Math.ceil(trials);
    }
    case 'GEPA': {
      // The seed candidate, then one journal entry per iteration the metric-call budget allows.
      const b = Math.min(num('reflectionMinibatchSize', 3), Math.max(1, trainSize));
      const preset = (['light', 'medium', 'heavy'] as const).find((x) => x === options.auto) ?? 'light';
      const budget =
        typeof options.maxMetricCalls === 'number'
          ? options.maxMetricCalls
          : typeof options.maxFullEvals === 'number'
            ? options.maxFullEvals * (trainSize + valSize)
            : presetMetricCalls(preset, predictors, valSize);
      return 1 + maxIterations(budget, valSize, b);
    }
    default:
      return 0;
  }
}

/** "resuming run X: N of M done" for a run with `done` journaled units of a planned `total`. */
export function resumeMessage(runId: string, done: number, total: number): string {
  return `resuming run ${runId}: ${done} of ${Math.max(done, total)} done`;
}
