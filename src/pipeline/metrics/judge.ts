/**
 * What the LLM judges share: running a judge predictor in its own trace (so its calls never
 * become demos of the program being optimized), and reading its typed scores fail-closed.
 */
import { Predict, withTrace, type Prediction } from '../../dspy/index.js';
import type { LM } from '../../lm/types.js';
import { pipelineLogger, type Logger } from '../log.js';
import { recordOf } from './fields.js';
import { noteUnscorable } from './unscorable.js';

export const JUDGE_PASS_SCORE = 7.0;

/** Feedback when the judge's answer could not be read (the metric failed closed). */
export const UNREADABLE_JUDGEMENT = "The judge's output could not be read, so this answer scored 0 (fail closed); nothing is known about its quality.";

/** `pass`: a boolean (the seed's behaviour). `score`: the judged score scaled to [0, 1]. */
export type JudgeMode = 'pass' | 'score';

export interface JudgeOptions {
  /** The judge's LM; default: the predictor's usual resolution (`settings.lm`). */
  lm?: LM;
  /** Pass mark on the 0-10 scale; default 7.0. */
  threshold?: number;
  mode?: JudgeMode;
  logger?: Logger;
}

/**
 * A score on the 0-10 scale, or undefined when the judge's value is not one: not a finite
 * number (strings like "8" or "8/10" are read; "eight" is not), or outside [0, 10].
 */
export function readScore(value: unknown): number | undefined {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string') {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s*(?:\/\s*10)?\s*$/.exec(value);
    if (!m) return undefined;
    n = Number(m[1]);
  } else return undefined;
  return Number.isFinite(n) && n >= 0 && n <= 10 ? n : undefined;
}

/**
 * Call the judge; undefined when it fails to produce parseable output (the adapter's parse
 * error, a missing field): the caller fails closed. LM errors other than parse errors (budget,
 * network) propagate, so optimizers can count or stop on them.
 */
export async function runJudge(
  judge: Predict,
  inputs: Record<string, unknown>,
  logger: Logger = pipelineLogger(),
): Promise<Record<string, unknown> | undefined> {
  try {
    const { result } = await withTrace(() => judge.call(inputs));
    return recordOf(result as Prediction);
  } catch (err) {
    const name = (err as Error)?.name ?? '';
    if (name === 'AdapterParseError' || name === 'TypeCoercionError') {
      logger.warn({ err: { name, message: (err as Error).message } }, 'judge output could not be parsed: failing closed');
      noteUnscorable(`the judge's output could not be parsed (${(err as Error).message.slice(0, 200)})`);
      return undefined;
    }
    throw err;
  }
}

/** JSON text of a value for a judge's prompt (strings as they are). */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value ?? null, null, 2) ?? 'null';
}

/** Fail-closed reading of a judge's score field: an unreadable one is noted as unscorable. */
export function judgedScore(out: Record<string, unknown>, field: string): number | undefined {
  const score = readScore(out[field]);
  if (score === undefined) {
    const raw = JSON.stringify(out[field] ?? null) ?? 'null';
    noteUnscorable(`the judge's ${field} ${raw.slice(0, 80)} is not a number from 0 to 10`);
  }
  return score;
}
