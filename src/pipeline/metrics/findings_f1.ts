/**
 * Overlap of listed findings with the expected ones, as an F1 score in [0, 1].
 *
 * Items: the field (default `findings`) of the prediction and of the expected output; a list
 * of strings, a list of objects (their `title`/`finding`/`description`/`message`/`text`, else
 * their JSON), or a string split into lines (bullets and numbering stripped).
 *
 * Matching is fuzzy: each item is normalised (lowercase, punctuation to spaces, whitespace
 * collapsed), split into tokens, common English stop words dropped and a trailing plural `s`
 * removed from tokens longer than three letters. Two items match when the Dice coefficient of
 * their token sets, 2|A∩B|/(|A|+|B|), is at least `similarity` (default 0.5). Items are paired
 * one-to-one, greedily from the most similar pair down (ties by position), so one verbose
 * finding cannot match several expected ones. precision = pairs/predicted, recall =
 * pairs/expected; both lists empty scores 1, exactly one empty scores 0. A prediction (or an
 * expected output) without the field scores 0: unparseable output never passes.
 *
 * With `passAt` the score is 1 when `f1 >= passAt`, else 0, instead of the F1.
 *
 * Returns `{score, feedback}`: the feedback names the findings missed (expected, not found)
 * and invented (found, not expected), so GEPA's reflection knows what to add and drop.
 */
import type { Metric } from '../../dspy/index.js';
import { feedbackResult, quote } from './feedback.js';
import { expectedOutputOf, predictedOutputOf } from './fields.js';

export interface FindingsF1Options {
  field?: string;
  similarity?: number;
  passAt?: number;
}

const STOP_WORDS = new Set(
  'a an the and or of to in on for with without is are be been being it its this that these those as at by from not no into than then there their them can could should would will may might must do does did has have had use using'.split(
    ' ',
  ),
);

const TEXT_KEYS = ['title', 'finding', 'description', 'message', 'text', 'issue'];

export function findingItems(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') {
    return value
      .split(/\r?\n/)
      .map((line) => line.replace(/^\s*(?:[-*•]|\d+[.)])\s*/, '').trim())
      .filter((line) => line !== '');
  }
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        if (typeof item === 'string') return item;
        if (item !== null && typeof item === 'object') {
          const key = TEXT_KEYS.find((k) => typeof (item as Record<string, unknown>)[k] === 'string');
          return key ? ((item as Record<string, unknown>)[key] as string) : JSON.stringify(item);
        }
        return String(item);
      })
      .filter((s) => s.trim() !== '');
  }
  return [JSON.stringify(value)];
}

export function tokens(text: string): Set<string> {
  const out = new Set<string>();
  for (const raw of text.toLowerCase().replace(/[^\p{L}\p{N}_]+/gu, ' ').split(' ')) {
    if (raw === '' || STOP_WORDS.has(raw)) continue;
    out.add(raw.length > 3 && raw.endsWith('s') && !raw.endsWith('ss') ? raw.slice(0, -1) : raw);
  }
  return out;
}

export function dice(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let common = 0;
  for (const t of a) if (b.has(t)) common++;
  return (2 * common) / (a.size + b.size);
}

export interface F1Result {
  precision: number;
  recall: number;
  f1: number;
  /** [predicted index, expected index, similarity] */
  pairs: Array<[number, number, number]>;
}

export function findingsF1Score(predicted: string[], expected: string[], similarity = 0.5): F1Result {
  if (predicted.length === 0 && expected.length === 0) return { precision: 1, recall: 1, f1: 1, pairs: [] };
  if (predicted.length === 0 || expected.length === 0) return { precision: 0, recall: 0, f1: 0, pairs: [] };
  const pt = predicted.map(tokens);
  const et = expected.map(tokens);
  const candidates: Array<[number, number, number]> = [];
  pt.forEach((p, i) =>
    et.forEach((e, j) => {
      const s = dice(p, e);
      if (s >= similarity) candidates.push([i, j, s]);
    }),
  );
  candidates.sort((x, y) => y[2] - x[2] || x[0] - y[0] || x[1] - y[1]);
  const usedP = new Set<number>();
  const usedE = new Set<number>();
  const pairs: Array<[number, number, number]> = [];
  for (const c of candidates) {
    if (usedP.has(c[0]) || usedE.has(c[1])) continue;
    usedP.add(c[0]);
    usedE.add(c[1]);
    pairs.push(c);
  }
  const precision = pairs.length / predicted.length;
  const recall = pairs.length / expected.length;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1, pairs };
}

export function findingsF1(options: FindingsF1Options = {}): Metric {
  const field = options.field ?? 'findings';
  const similarity = options.similarity ?? 0.5;
  const scored = (prediction: unknown, f1: number, feedback: string) =>
    feedbackResult(prediction, options.passAt === undefined ? f1 : f1 >= options.passAt ? 1 : 0, feedback);
  return (example, prediction) => {
    const expectedValue = expectedOutputOf(example)[field];
    const predicted = predictedOutputOf(prediction);
    const predictedValue = predicted[field];
    // Fail closed: a prediction without the field (unparseable output) must not score as an
    // empty list matching an expected empty list, nor may an example lacking the field; and
    // never through the pass mark (with passAt 0, an F1 of 0 would pass).
    if (expectedValue === undefined) return feedbackResult(prediction, 0, `The example has no expected \`${field}\` to compare with: scored 0.`);
    if (predictedValue === undefined) {
      const keys = Object.keys(predicted);
      return feedbackResult(
        prediction,
        0,
        `The output has no \`${field}\` field (${keys.length ? `it has ${keys.map((k) => `\`${k}\``).join(', ')}` : 'no field could be read from it'}): ` +
          `answer with a \`${field}\` list. Expected findings: ${findingItems(expectedValue).map(quote).join('; ') || 'none'}.`,
      );
    }
    const expected = findingItems(expectedValue);
    const items = findingItems(predictedValue);
    const r = findingsF1Score(items, expected, similarity);
    return scored(prediction, r.f1, findingsFeedback(r, items, expected, options.passAt));
  };
}

/** Which findings were matched, missed (expected, not found) and invented (found, not expected). */
export function findingsFeedback(r: F1Result, predicted: string[], expected: string[], passAt?: number): string {
  const matchedP = new Set(r.pairs.map((p) => p[0]));
  const matchedE = new Set(r.pairs.map((p) => p[1]));
  const missed = expected.filter((_, i) => !matchedE.has(i));
  const invented = predicted.filter((_, i) => !matchedP.has(i));
  const f = (x: number) => String(Math.round(x * 100) / 100);
  const parts = [
    `Findings F1 ${f(r.f1)} (precision ${f(r.precision)}, recall ${f(r.recall)}; ${r.pairs.length} of ${expected.length} expected findings found` +
      (passAt !== undefined ? `; passes at ${f(passAt)}: ${r.f1 >= passAt ? 'pass' : 'fail'}` : '') +
      ').',
  ];
  if (missed.length) parts.push(`Missed (expected, not found): ${missed.map(quote).join('; ')}.`);
  if (invented.length) parts.push(`Invented (not expected): ${invented.map(quote).join('; ')}.`);
  if (!missed.length && !invented.length) parts.push('Every expected finding was found and none was invented.');
  return parts.join(' ');
}
