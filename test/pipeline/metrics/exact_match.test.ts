/**
 * exact_match and the field reading and comparison it shares with the other deterministic
 * metrics (fields.ts), as documented: which fields are compared, loose vs strict comparison,
 * partial credit, and the feedback (golden) naming each field that is missing or differs.
 */
import { describe, expect, it } from 'vitest';
import { Example, Prediction, type MetricFeedback } from '../../../src/dspy/index.js';
import { exactMatch } from '../../../src/pipeline/metrics/exact_match.js';
import { expectedOutputOf, jsonEqual, normalizeText, predictedOutputOf, recordOf } from '../../../src/pipeline/metrics/fields.js';

const fb = (v: unknown) => v as MetricFeedback;
const expected = { severity: 'medium', count: 2, tags: ['otp', 'ets'] };
const example = new Example({ code: 'c', ...expected, expected_output: expected }).withInputs('code');

describe('reading fields', () => {
  it('reads an Example or Prediction through toDict, a plain record as it is, anything else as empty', () => {
    expect(recordOf(new Prediction({ a: 1 }))).toEqual({ a: 1 });
    expect(recordOf({ b: 2 })).toEqual({ b: 2 });
    expect(recordOf(null)).toEqual({});
    expect(recordOf('text')).toEqual({});
    expect(recordOf(undefined)).toEqual({});
  });

  it('the expected output: the whole `expected_output` label, else the labels without it', () => {
    expect(expectedOutputOf(example)).toEqual(expected);
    // No expected_output object: the labels (not the inputs) are the expected output.
    const labelled = new Example({ code: 'c', severity: 'low', expected_output: 'not an object' }).withInputs('code');
    expect(expectedOutputOf(labelled)).toEqual({ severity: 'low' });
    const listLabel = new Example({ code: 'c', expected_output: ['a'] }).withInputs('code');
    expect(expectedOutputOf(listLabel)).toEqual({});
    // A plain record without labels(): its keys, minus expected_output.
    expect(expectedOutputOf({ severity: 'low', expected_output: null })).toEqual({ severity: 'low' });
  });

  it('the predicted output: the prediction\'s fields without the raw pipeline_result', () => {
    expect(predictedOutputOf(new Prediction({ severity: 'low', pipeline_result: { output: 'x' } }))).toEqual({ severity: 'low' });
  });

  it('normalises text: lowercase, whitespace collapsed, trimmed', () => {
    expect(normalizeText('  Hello \n\t WORLD  ')).toBe('hello world');
  });
});

describe('comparing values', () => {
  it('strings: loose ignores case and spacing, strict does not', () => {
    expect(jsonEqual(' High ', 'high', true)).toBe(true);
    expect(jsonEqual(' High ', 'high', false)).toBe(false);
    expect(jsonEqual('high', 'high', false)).toBe(true);
  });

  it('numbers and scalars: equal values only; loose reads a number and its text as equal', () => {
    expect(jsonEqual(2, 2, false)).toBe(true);
    expect(jsonEqual(2, 3, true)).toBe(false);
    expect(jsonEqual('2', 2, true)).toBe(true);
    expect(jsonEqual(2, ' 2 ', true)).toBe(true);
    expect(jsonEqual('true', true, true)).toBe(true);
    expect(jsonEqual('2', 2, false)).toBe(false);
    expect(jsonEqual('3', 2, true)).toBe(false);
    expect(jsonEqual('null', null, true)).toBe(false);
    expect(jsonEqual('x', ['x'], true)).toBe(false);
    expect(jsonEqual(true, true, false)).toBe(true);
    expect(jsonEqual(null, null, false)).toBe(true);
  });

  it('lists and objects deeply, in order for lists, ignoring undefined keys', () => {
    expect(jsonEqual(['A', 'b'], ['a', 'B'], true)).toBe(true);
    expect(jsonEqual(['a', 'b'], ['b', 'a'], true)).toBe(false);
    expect(jsonEqual(['a'], ['a', 'b'], true)).toBe(false);
    expect(jsonEqual({ a: 'X', b: [1] }, { b: [1], a: 'x' }, true)).toBe(true);
    expect(jsonEqual({ a: 1, b: undefined }, { a: 1 }, false)).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 1, c: 2 }, false)).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 2 }, false)).toBe(false);
    expect(jsonEqual({ a: 1 }, { b: 1 }, false)).toBe(false);
    expect(jsonEqual({ a: 1 }, [1], false)).toBe(false);
    expect(jsonEqual([1], { 0: 1 }, false)).toBe(false);
    expect(jsonEqual({}, null, false)).toBe(false);
  });
});

describe('the exact_match metric', () => {
  it('compares every field of the expected output by default, and says so when all match', () => {
    const v = fb(exactMatch()(example, new Prediction({ severity: 'Medium', count: 2, tags: ['OTP', 'ets'], extra: 'ignored' })));
    expect(v).toEqual({ score: 1, feedback: 'Every field matches the expected output (`severity`, `count`, `tags`).' });
  });

  it('names each field that differs or is missing, with expected and predicted values', () => {
    const v = fb(exactMatch()(example, new Prediction({ severity: 'high', count: 2 })));
    expect(v).toEqual({
      score: 0,
      feedback:
        '1 of 3 fields match the expected output (strings compared ignoring case and spacing). ' +
        '`severity`: expected "medium", got "high"; `tags`: missing (expected ["otp","ets"]).',
    });
  });

  it('compares only the fields named', () => {
    expect(fb(exactMatch({ fields: ['count'] })(example, new Prediction({ count: 2, severity: 'wrong' }))).score).toBe(1);
    expect(fb(exactMatch({ fields: ['count'] })(example, new Prediction({ count: 2, severity: 'wrong' }))).feedback).toBe(
      'Every field matches the expected output (`count`).',
    );
  });

  it('with normalize false, strings must match exactly (and the feedback does not claim otherwise)', () => {
    const v = fb(exactMatch({ normalize: false })(example, new Prediction({ severity: 'Medium', count: 2, tags: ['otp', 'ets'] })));
    expect(v).toEqual({ score: 0, feedback: '2 of 3 fields match the expected output. `severity`: expected "medium", got "Medium".' });
  });

  it('with partial, scores the fraction of fields that match; without, all or nothing', () => {
    const pred = new Prediction({ severity: 'medium', count: 3 });
    expect(fb(exactMatch({ partial: true })(example, pred)).score).toBeCloseTo(1 / 3, 10);
    expect(fb(exactMatch({ partial: false })(example, pred)).score).toBe(0);
    expect(fb(exactMatch({ partial: true })(example, new Prediction(expected))).score).toBe(1);
  });

  it('an example with no expected output scores 0 and says so', () => {
    const bare = new Example({ code: 'c' }).withInputs('code');
    expect(fb(exactMatch()(bare, new Prediction({ a: 1 })))).toEqual({ score: 0, feedback: 'The example has no expected output to compare with: scored 0.' });
  });
});
