/**
 * Scoring a program on the held-out examples, as a run does before and after optimizing:
 * each example's outcome is journaled as it is committed (a resumed run reads it back instead
 * of executing it again), and a pass that cannot support a conclusion stops the run: every
 * execution failed, or the metric could not score most examples (an unparseable judge).
 */
import type { Example, Metric, Module } from '../dspy/index.js';
import { evaluateProgram, DEFAULT_MAX_ERRORS, type EvaluationItem, type KnownItem } from '../optimizers/evaluate.js';
import type { RunJournal } from '../optimizers/journal.js';
import type { RunContext } from '../optimizers/run.js';
import { watchUnscorable } from '../pipeline/metrics/unscorable.js';
import { RunFailedError } from './errors.js';

export interface HeldOutScores {
  /** Mean metric value in percent, 0-100 (2 decimals). */
  score: number;
  /** The metric's value on each held-out example, in valset order (a failed execution: 0). */
  perExample: number[];
  results: EvaluationItem[];
  errors: number;
  /** Examples the metric could not score (it failed closed). */
  unscorable: number;
}

interface JournaledItem extends KnownItem {
  unscorable?: string;
}

export interface ScoreOptions {
  /** `baseline`, `final`: names the pass in progress events, errors and journal keys. */
  phase: string;
  metricName: string;
  journal?: RunJournal | undefined;
  /** Journal key prefix; default the phase. */
  journalKey?: string;
}

export async function scoreHeldOut(
  ctx: RunContext,
  program: Module,
  valset: Example[],
  metric: Metric,
  o: ScoreOptions,
): Promise<HeldOutScores> {
  const key = (i: number) => `${o.journalKey ?? o.phase}/${i}`;
  const indexOf = new Map(valset.map((e, i) => [e, i] as [Example, number]));
  const unscorable = new Map<number, string>();
  // Stryker disable next-line EqualityOperator: the journal has no entry past the valset, so reading one more finds nothing
  for (let i = 0; i < valset.length; i++) {
    const saved = o.journal?.get<JournaledItem>(key(i));
    if (saved?.unscorable !== undefined) unscorable.set(i, saved.unscorable);
  }
  const watched: Metric = async (example, prediction, trace) => {
    const { value, unscorable: notes } = await watchUnscorable(() => metric(example, prediction, trace));
    // The metric is only ever called with the valset's own examples.
    if (notes.length > 0) unscorable.set(indexOf.get(example)!, notes[0]!);
    return value;
  };
  const result = await evaluateProgram(ctx, program, valset, watched, {
    concurrency: ctx.concurrency,
    maxErrors: Math.max(DEFAULT_MAX_ERRORS, valset.length + 1), // judged below, on the whole pass
    failureScore: 0,
    label: o.phase,
    known: (i) => o.journal?.get<JournaledItem>(key(i)),
    onCommit: (item) => {
      const note = unscorable.get(item.index);
      o.journal?.append(key(item.index), {
        score: item.score,
        // Stryker disable next-line ConditionalExpression: an absent field and an undefined one are the same record (JSON drops undefined)
        ...(item.error !== undefined ? { error: item.error } : {}),
        // Stryker disable next-line ConditionalExpression: as above
        ...(note !== undefined ? { unscorable: note } : {}),
      } satisfies JournaledItem);
    },
  });
  const n = valset.length;
  if (n > 0 && result.errors === n) {
    const first = result.results.find((r) => r.error !== undefined)!.error!; // every result failed
    throw new RunFailedError(
      'executions_failed',
      o.phase,
      `every execution failed on the ${n} held-out examples while scoring ${describe(o.phase)}, so nothing can be concluded and nothing was written; first error: ${first}`,
    );
  }
  // A judge that fails closed on most examples would make both sides of the comparison noise.
  if (unscorable.size * 2 > n) {
    const reason = [...unscorable.entries()].sort((a, b) => a[0] - b[0])[0]![1];
    throw new RunFailedError(
      'metric_cannot_score',
      o.phase,
      `the metric ${o.metricName} could not score ${unscorable.size} of ${n} held-out examples while scoring ${describe(o.phase)} ` +
        `(${reason}), so nothing can be concluded and nothing was written`,
    );
  }
  return {
    score: result.score,
    perExample: result.results.map((r) => r.score),
    results: result.results,
    errors: result.errors,
    unscorable: unscorable.size,
  };
}

function describe(phase: string): string {
  if (phase === 'baseline') return 'the pipeline as written';
  if (phase === 'final') return 'the optimized pipeline';
  return phase;
}
