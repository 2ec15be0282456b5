/**
 * valid_json and the feedback helpers every metric shares (feedback.ts): what counts as JSON,
 * an object, the required keys, the type advice, how values are quoted and which pipeline
 * step the feedback is attributed to.
 */
import { describe, expect, it } from 'vitest';
import { Example, Prediction, type MetricFeedback } from '../../../src/dspy/index.js';
import { answerStepOf, asFeedback, feedbackResult, MAX_QUOTE_CHARS, quote } from '../../../src/pipeline/metrics/feedback.js';
import { jsonType, parseJsonValue, validJson } from '../../../src/pipeline/metrics/valid_json.js';

const fb = (v: unknown) => v as MetricFeedback;
const expected = { findings: ['a'], severity: 'low', meta: { x: 1 } };
const example = new Example({ code: 'c', expected_output: expected }).withInputs('code');
const answer = (output: unknown) => new Prediction({ pipeline_result: { status: 'ok', steps: {}, output, durationMs: 1 } });

describe('parsing JSON', () => {
  it('parses a string (a ```json fence removed), takes an object or array as it is, refuses the rest', () => {
    expect(parseJsonValue(' {"a": 1} ')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonValue('```json\n{"a": 1}\n```')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonValue('```\n[1]```')).toEqual({ ok: true, value: [1] });
    expect(parseJsonValue('{"a": 1')).toEqual({ ok: false });
    expect(parseJsonValue({ a: 1 })).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonValue([2])).toEqual({ ok: true, value: [2] });
    expect(parseJsonValue(null)).toEqual({ ok: false });
    expect(parseJsonValue(3)).toEqual({ ok: false });
    expect(parseJsonValue(undefined)).toEqual({ ok: false });
  });

  it('names JSON types', () => {
    expect([null, [], {}, 'x', 1, true].map(jsonType)).toEqual(['null', 'array', 'object', 'string', 'number', 'boolean']);
  });
});

describe('the valid_json metric', () => {
  it('checks the pipeline\'s raw answer by default: a JSON object passes', () => {
    expect(fb(validJson()(example, answer('{"severity": "low"}')))).toEqual({ score: 1, feedback: 'The answer is valid JSON (an object).' });
    expect(fb(validJson()(example, answer({ severity: 'low' }))).score).toBe(1);
  });

  it('fails an answer that is missing or not JSON, and quotes it', () => {
    expect(fb(validJson()(example, answer(undefined)))).toEqual({ score: 0, feedback: 'The answer is missing: answer with a JSON object.' });
    expect(fb(validJson()(example, answer(null)))).toEqual({ score: 0, feedback: 'The answer is missing: answer with a JSON object.' });
    expect(fb(validJson()(example, answer('nope')))).toEqual({ score: 0, feedback: 'The answer is not JSON: "nope". Answer with a JSON object only.' });
  });

  it('requires an object unless requireObject is false', () => {
    expect(fb(validJson()(example, answer('[1, 2]')))).toEqual({ score: 0, feedback: 'The answer is JSON but not an object (array): answer with a JSON object.' });
    expect(fb(validJson()(example, answer('"text"'))).feedback).toBe('The answer is JSON but not an object (string): answer with a JSON object.');
    expect(fb(validJson({ requireObject: false })(example, answer('[1, 2]')))).toEqual({ score: 1, feedback: 'The answer is valid JSON.' });
    // Required keys need an object, whatever requireObject says.
    expect(fb(validJson({ requireObject: false, requiredKeys: ['a', 'b'] })(example, answer('[1]')))).toEqual({
      score: 0,
      feedback: 'The answer is JSON but not an object, so it has none of the keys a, b.',
    });
  });

  it('checks a named field instead of the raw answer', () => {
    const m = validJson({ field: 'raw' });
    expect(fb(m(example, new Prediction({ raw: '{"a": 1}' })))).toEqual({ score: 1, feedback: 'The `raw` field is valid JSON (an object).' });
    expect(fb(m(example, new Prediction({ other: 1 })))).toEqual({ score: 0, feedback: 'The `raw` field is missing: answer with a JSON object.' });
  });

  it('fails an object without every required key, naming the missing ones', () => {
    const m = validJson({ requiredKeys: ['findings', 'severity', 'fix'] });
    expect(fb(m(example, answer('{"findings": ["a"], "severity": "low", "fix": 1}'))).score).toBe(1);
    expect(fb(m(example, answer('{"findings": ["a"]}')))).toEqual({ score: 0, feedback: 'The answer is a JSON object but lacks the keys `severity`, `fix`.' });
    expect(fb(validJson({ requiredKeys: [] })(example, answer('{}'))).score).toBe(1);
  });

  it('advises, without changing the score, on keys whose JSON type differs from the expected output', () => {
    const v = fb(validJson()(example, answer('{"findings": "one", "severity": ["low"], "meta": 3, "other": 1}')));
    expect(v).toEqual({
      score: 1,
      feedback:
        'The answer is valid JSON (an object). Key `findings` is a string; the expected output has an array. ' +
        'Key `severity` is an array; the expected output has a string. Key `meta` is a number; the expected output has an object.',
    });
    const missing = fb(validJson({ requiredKeys: ['fix'] })(example, answer('{"meta": {"x": 2}, "severity": {}}')));
    expect(missing.feedback).toBe('The answer is a JSON object but lacks the keys `fix`. Key `severity` is an object; the expected output has a string.');
  });
});

describe('feedback helpers', () => {
  it('quotes strings and values as JSON, cut at MAX_QUOTE_CHARS with an ellipsis', () => {
    expect(quote('a "b"')).toBe('"a \\"b\\""');
    expect(quote(['x', 1])).toBe('["x",1]');
    expect(quote(undefined)).toBe('undefined');
    expect(MAX_QUOTE_CHARS).toBe(160);
    const exact = 'y'.repeat(MAX_QUOTE_CHARS - 2); // quoted: exactly 160 characters, kept whole
    expect(quote(exact)).toBe(`"${exact}"`);
    const long = quote('z'.repeat(500));
    expect(long).toHaveLength(MAX_QUOTE_CHARS);
    expect(long).toBe(`"${'z'.repeat(MAX_QUOTE_CHARS - 2)}…`);
  });

  it('attributes feedback to the last top-level step that ran, by `order` or else insertion order', () => {
    const steps = { analyze: { text: 'a' }, plan: { text: 'p' }, notes: { skipped: true } };
    expect(answerStepOf(new Prediction({ pipeline_result: { steps, order: ['analyze', 'plan', 'notes'] } }))).toBe('plan');
    expect(answerStepOf(new Prediction({ pipeline_result: { steps, order: ['plan', 'analyze'] } }))).toBe('analyze');
    expect(answerStepOf(new Prediction({ pipeline_result: { steps } }))).toBe('plan');
    expect(answerStepOf(new Prediction({ pipeline_result: { steps, order: ['ghost', 'analyze', 7] } }))).toBe('analyze');
    expect(answerStepOf(new Prediction({ pipeline_result: { steps: { only: { skipped: true } } } }))).toBeUndefined();
    expect(answerStepOf(new Prediction({ answer: 1 }))).toBeUndefined();
    expect(feedbackResult(new Prediction({ pipeline_result: { steps } }), 0.5, 'why')).toEqual({ score: 0.5, feedback: 'why', byPredictor: { plan: 'why' } });
    expect(feedbackResult(new Prediction({ a: 1 }), 1, 'why')).toEqual({ score: 1, feedback: 'why' });
  });

  it('reads any metric value as a score and words', () => {
    const withWords = { score: 0.4, feedback: 'f', byPredictor: { s: 't' } };
    expect(asFeedback(withWords)).toBe(withWords);
    expect(asFeedback(true)).toEqual({ score: 1 });
    expect(asFeedback(false)).toEqual({ score: 0 });
    expect(asFeedback(0.25)).toEqual({ score: 0.25 });
    expect(asFeedback('0.5')).toEqual({ score: 0.5 });
    expect(asFeedback('nonsense')).toEqual({ score: 0 });
    expect(asFeedback(Infinity)).toEqual({ score: 0 });
    expect(asFeedback({ score: 'high' })).toEqual({ score: 0 });
    expect(asFeedback(null)).toEqual({ score: 0 });
  });
});
