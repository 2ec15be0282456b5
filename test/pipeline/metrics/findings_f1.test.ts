/**
 * findings_f1 as documented in src/pipeline/metrics/findings_f1.ts and docs/pipelines.md: which
 * items are read, how two findings are judged the same, the one-to-one pairing, the F1 and its
 * pass mark, and the feedback GEPA's reflection reads (goldens: that text is what the LM sees).
 */
import { describe, expect, it } from 'vitest';
import { Example, Prediction, type MetricFeedback } from '../../../src/dspy/index.js';
import { dice, findingItems, findingsF1, findingsF1Score, findingsFeedback, tokens } from '../../../src/pipeline/metrics/findings_f1.js';

const fb = (v: unknown) => v as MetricFeedback;
const ex = (expected: Record<string, unknown>) => new Example({ code: 'c', expected_output: expected }).withInputs('code');

describe('the items of a findings field', () => {
  it('reads a text as one finding per line, bullets and numbering stripped, blank lines dropped', () => {
    expect(findingItems('- first\r\n* second\n• third\n\n  1. fourth\n2) fifth\n   \nplain')).toEqual(['first', 'second', 'third', 'fourth', 'fifth', 'plain']);
    // A dash inside a line, or a number not followed by . or ), is part of the finding.
    expect(findingItems('use a-b\n12 workers\n-x')).toEqual(['use a-b', '12 workers', 'x']);
  });

  it('reads a list of strings or objects by their text key (title first), else their JSON', () => {
    expect(findingItems(['a', '  ', ''])).toEqual(['a']);
    expect(
      findingItems([
        { title: 'T', description: 'D' },
        { finding: 'F' },
        { description: 'D2', message: 'M' },
        { message: 'M3' },
        { text: 'X' },
        { issue: 'I' },
        { severity: 'high' },
        { title: 3, text: 'not the number' },
      ]),
    ).toEqual(['T', 'F', 'D2', 'M3', 'X', 'I', '{"severity":"high"}', 'not the number']);
    expect(findingItems([1, true, null])).toEqual(['1', 'true', 'null']);
  });

  it('reads nothing from null or undefined, and anything else as its JSON', () => {
    expect(findingItems(undefined)).toEqual([]);
    expect(findingItems(null)).toEqual([]);
    expect(findingItems(42)).toEqual(['42']);
    expect(findingItems({ a: 1 })).toEqual(['{"a":1}']);
  });
});

describe('when two findings are the same', () => {
  it('normalises case and punctuation, drops stop words and a plural s (not ss, not short words)', () => {
    expect([...tokens('The Agent.start_link, is NOT supervised!')]).toEqual(['agent', 'start_link', 'supervised']);
    expect([...tokens('bugs class gas its processes')]).toEqual(['bug', 'class', 'gas', 'processe']);
    expect([...tokens('   ')]).toEqual([]);
    expect([...tokens('Überfluß über')]).toEqual(['überfluß', 'über']);
  });

  it('measures overlap as the Dice coefficient of the token sets', () => {
    expect(dice(new Set(['a', 'b']), new Set(['b', 'c']))).toBe(0.5);
    expect(dice(new Set(['a', 'b', 'c']), new Set(['a']))).toBe(0.5);
    expect(dice(new Set(['a']), new Set(['a']))).toBe(1);
    expect(dice(new Set(), new Set())).toBe(1);
    expect(dice(new Set(['a']), new Set())).toBe(0);
  });

  it('matches at the similarity threshold inclusive, not below it', () => {
    // {agent, crash} vs {agent, leak}: Dice 0.5.
    expect(findingsF1Score(['agent crash'], ['agent leak']).f1).toBe(1);
    expect(findingsF1Score(['agent crash'], ['agent leak'], 0.51).f1).toBe(0);
    expect(findingsF1Score(['agent crash'], ['agent leak'], 0.5).pairs).toEqual([[0, 0, 0.5]]);
  });
});

describe('the F1', () => {
  it('is 1 when both lists are empty, 0 when exactly one is', () => {
    expect(findingsF1Score([], [])).toEqual({ precision: 1, recall: 1, f1: 1, pairs: [] });
    expect(findingsF1Score(['x'], [])).toEqual({ precision: 0, recall: 0, f1: 0, pairs: [] });
    expect(findingsF1Score([], ['x'])).toEqual({ precision: 0, recall: 0, f1: 0, pairs: [] });
  });

  it('is the harmonic mean of pairs/predicted and pairs/expected', () => {
    const r = findingsF1Score(['agent unsupervised', 'atom leak', 'invented thing'], ['agent unsupervised', 'atom leak', 'ets misuse', 'mailbox unbounded']);
    expect(r.precision).toBeCloseTo(2 / 3, 10);
    expect(r.recall).toBe(0.5);
    expect(r.f1).toBeCloseTo((2 * (2 / 3) * 0.5) / (2 / 3 + 0.5), 10);
    expect(findingsF1Score(['nothing alike'], ['agent unsupervised'])).toEqual({ precision: 0, recall: 0, f1: 0, pairs: [] });
  });

  it('pairs one to one, the most similar pair first, ties by position', () => {
    // p0 is equally like e0 and e1; p1 is exactly e1. Most similar first: (p1, e1) = 1, then (p0, e0).
    const r = findingsF1Score(['agent crash leak', 'agent crash'], ['agent crash', 'agent crash']);
    expect(r.pairs.map(([p, e]) => [p, e])).toEqual([
      [1, 0],
      [0, 1],
    ]);
    // Equal similarities: the earlier predicted item, then the earlier expected one, wins.
    const tie = findingsF1Score(['agent crash', 'agent crash'], ['agent crash', 'agent crash']);
    expect(tie.pairs).toEqual([
      [0, 0, 1],
      [1, 1, 1],
    ]);
    // One predicted finding can match one expected finding only.
    expect(findingsF1Score(['agent crash'], ['agent crash', 'agent crash']).pairs).toHaveLength(1);
  });
});

describe('the findings_f1 metric', () => {
  const expected = { findings: ['Agent started without supervision', 'Atom leak from user input'], severity: 'high' };

  it('scores the F1 of the `findings` field, or the field named, with its feedback', () => {
    const v = fb(findingsF1()(ex(expected), new Prediction({ findings: ['agent started without supervision', 'Uses a GenServer for state'] })));
    expect(v.score).toBe(0.5);
    expect(v.feedback).toBe(
      'Findings F1 0.5 (precision 0.5, recall 0.5; 1 of 2 expected findings found). ' +
        'Missed (expected, not found): "Atom leak from user input". Invented (not expected): "Uses a GenServer for state".',
    );
    const issues = fb(findingsF1({ field: 'issues' })(ex({ issues: 'atom leak' }), new Prediction({ issues: '- atom leak' })));
    expect(issues.score).toBe(1);
    expect(issues.feedback).toBe('Findings F1 1 (precision 1, recall 1; 1 of 1 expected findings found). Every expected finding was found and none was invented.');
  });

  it('applies its similarity option', () => {
    const strict = findingsF1({ similarity: 0.9 })(ex(expected), new Prediction({ findings: ['Agent started without supervision tree'] }));
    expect(fb(strict).score).toBe(0);
    const loose = findingsF1()(ex(expected), new Prediction({ findings: ['Agent started without supervision tree'] }));
    expect(fb(loose).score).toBeCloseTo(2 / 3, 10);
  });

  it('with passAt, scores 1 at or above the pass mark and 0 below, and says so', () => {
    const pred = new Prediction({ findings: ['agent started without supervision'] }); // F1 2/3
    expect(fb(findingsF1({ passAt: 2 / 3 })(ex(expected), pred)).score).toBe(1);
    const fail = fb(findingsF1({ passAt: 0.7 })(ex(expected), pred));
    expect(fail.score).toBe(0);
    expect(fail.feedback).toBe(
      'Findings F1 0.67 (precision 1, recall 0.5; 1 of 2 expected findings found; passes at 0.7: fail). Missed (expected, not found): "Atom leak from user input".',
    );
    expect(fb(findingsF1({ passAt: 0.5 })(ex(expected), pred)).feedback).toContain('; passes at 0.5: pass).');
  });

  it('fails closed when the prediction or the example lacks the field, and says what was expected', () => {
    const none = fb(findingsF1()(ex(expected), new Prediction({ severity: 'high', summary: 'fine' })));
    expect(none).toEqual({
      score: 0,
      feedback:
        'The output has no `findings` field (it has `severity`, `summary`): answer with a `findings` list. ' +
        'Expected findings: "Agent started without supervision"; "Atom leak from user input".',
    });
    const empty = fb(findingsF1()(ex({ findings: [] }), new Prediction({})));
    expect(empty.feedback).toBe('The output has no `findings` field (no field could be read from it): answer with a `findings` list. Expected findings: none.');
    expect(empty.score).toBe(0);
    // Even with passAt 0 (every F1 passes), a missing field is 0.
    expect(fb(findingsF1({ passAt: 0 })(ex({ findings: [] }), new Prediction({}))).score).toBe(0);
    const noExpected = fb(findingsF1()(ex({ severity: 'low' }), new Prediction({ findings: [] })));
    expect(noExpected).toEqual({ score: 0, feedback: 'The example has no expected `findings` to compare with: scored 0.' });
  });

  it('feedback without a pass mark lists only what is missed or invented', () => {
    const r = findingsF1Score(['b thing'], ['a thing', 'b thing']);
    expect(findingsFeedback(r, ['b thing'], ['a thing', 'b thing'])).toBe(
      'Findings F1 0.67 (precision 1, recall 0.5; 1 of 2 expected findings found). Missed (expected, not found): "a thing".',
    );
    const r2 = findingsF1Score(['a thing', 'c other'], ['a thing']);
    expect(findingsFeedback(r2, ['a thing', 'c other'], ['a thing'])).toBe(
      'Findings F1 0.67 (precision 0.5, recall 1; 1 of 1 expected findings found). Invented (not expected): "c other".',
    );
  });
});
