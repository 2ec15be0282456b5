/**
 * The composite metric (every member must pass) and the registry that builds metrics by name
 * from the wire's options: pass marks, which failures are verdicts and which stop the run, the
 * feedback (golden), per-step feedback, option validation and where a judge's LM comes from.
 */
import { describe, expect, it } from 'vitest';
import { captureLogger, chat } from './support.js';
import { Example, Prediction, settings, type Metric, type MetricFeedback } from '../../../src/dspy/index.js';
import { BudgetExceededError } from '../../../src/lm/budget.js';
import { LMError } from '../../../src/lm/errors.js';
import type { ChatMessage, LM, LMResponse } from '../../../src/lm/types.js';
import { compositeMetric, DEFAULT_MEMBER_THRESHOLD, isStopError, memberPassed } from '../../../src/pipeline/metrics/composite.js';
import { getMetric, METRIC_NAMES, MetricConfigError } from '../../../src/pipeline/metrics/registry.js';
import { noteUnscorable, watchUnscorable } from '../../../src/pipeline/metrics/unscorable.js';

const fb = (v: unknown) => v as MetricFeedback;
const example = new Example({ code: 'c', expected_output: { severity: 'high', findings: ['agent unsupervised'] } }).withInputs('code');
const pred = new Prediction({ severity: 'high' });


class FixedLM implements LM {
  readonly provider = 'test';
  constructor(
    readonly text: string,
    readonly model = 'fixed',
  ) {}
  calls = 0;
  async generate(_messages: ChatMessage[]): Promise<LMResponse> {
    this.calls++;
    return { text: this.text, usage: { inputTokens: 1, outputTokens: 1 }, model: this.model, cached: false, costUsd: 0 };
  }
}

describe('when a composite member passes', () => {
  it('a boolean by its value; a number at or above its threshold (0.7 by default); feedback by its score', () => {
    expect(DEFAULT_MEMBER_THRESHOLD).toBe(0.7);
    expect(memberPassed(true)).toBe(true);
    expect(memberPassed(false)).toBe(false);
    expect(memberPassed(0.7)).toBe(true);
    expect(memberPassed(0.69)).toBe(false);
    expect(memberPassed(0.5, 0.5)).toBe(true);
    expect(memberPassed(0.49, 0.5)).toBe(false);
    expect(memberPassed(NaN, 0)).toBe(false);
    expect(memberPassed(Infinity, 0)).toBe(false);
    expect(memberPassed({ score: 0.8, feedback: 'x' })).toBe(true);
    expect(memberPassed({ score: 0.6, feedback: 'x' })).toBe(false);
    expect(memberPassed({ score: 0.6, feedback: 'x' }, 0.6)).toBe(true);
    expect(memberPassed('1')).toBe(false);
    expect(memberPassed(undefined)).toBe(false);
  });

  it('a budget stop or an abort is a stop, not a verdict', () => {
    expect(isStopError(new BudgetExceededError('calls', 3, 3))).toBe(true);
    expect(isStopError(Object.assign(new Error('x'), { name: 'AbortError' }))).toBe(true);
    expect(isStopError(new LMError('aborted', { kind: 'aborted', provider: 'p' }))).toBe(true);
    expect(isStopError(new LMError('rate limited', { kind: 'rate_limited', provider: 'p' }))).toBe(false);
    expect(isStopError(Object.assign(new Error('x'), { kind: 'aborted' }))).toBe(false);
    expect(isStopError(new Error('judge broke'))).toBe(false);
    expect(isStopError(null)).toBe(false);
    const ac = new AbortController();
    ac.abort();
    expect(settings.context({ signal: ac.signal }, () => isStopError(new Error('socket closed')))).toBe(true);
    expect(settings.context({ signal: new AbortController().signal }, () => isStopError(new Error('socket closed')))).toBe(false);
  });
});

describe('the composite metric', () => {
  const words = (score: number, feedback?: string, byPredictor?: Record<string, string>): Metric => () => ({ score, ...(feedback !== undefined ? { feedback } : {}), ...(byPredictor ? { byPredictor } : {}) }) as MetricFeedback;

  it('scores 1 with one line per member when every member passes', async () => {
    const v = fb(await compositeMetric([{ name: 'json', metric: words(1, 'valid') }, () => true, () => 0.756])(example, pred));
    expect(v).toEqual({
      score: 1,
      feedback: 'Every check passed:\n- json (pass, score 1): valid\n- metric[1] (pass, score 1): no feedback\n- metric[2] (pass, score 0.76): no feedback',
    });
  });

  it('scores 0 when one member fails, each member\'s threshold applying to it', async () => {
    const v = fb(await compositeMetric([{ name: 'f1', metric: () => 0.6, threshold: 0.5 }, { name: 'sev', metric: words(0, 'wrong severity') }])(example, pred));
    expect(v).toEqual({ score: 0, feedback: 'Not every check passed:\n- f1 (pass, score 0.6): no feedback\n- sev (fail, score 0): wrong severity' });
  });

  it('a member that throws is a logged fail, and the others still run', async () => {
    const { logger, lines } = captureLogger();
    let after = 0;
    const v = fb(
      await compositeMetric(
        [
          {
            name: 'judge',
            metric: () => {
              throw new TypeError('judge exploded');
            },
          },
          () => (after++, true),
        ],
        { logger },
      )(example, pred),
    );
    expect(after).toBe(1);
    expect(v.score).toBe(0);
    expect(v.feedback).toBe('Not every check passed:\n- judge (fail): the evaluator failed (judge exploded), counted as a fail.\n- metric[1] (pass, score 1): no feedback');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, metric: 'judge', err: { name: 'TypeError', message: 'judge exploded' } });
  });

  it('a stop propagates instead of being scored', async () => {
    const { logger, lines } = captureLogger();
    const stop = () => {
      throw new BudgetExceededError('calls', 3, 3);
    };
    await expect(compositeMetric([stop, () => true], { logger })(example, pred)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(lines).toHaveLength(0);
  });

  it('gathers the members\' per-step feedback under each step, marked with the member and its verdict', async () => {
    const v = fb(
      await compositeMetric([
        { name: 'a', metric: words(1, 'A ok', { plan: 'plan fine', analyze: 'analysis fine' }) },
        { name: 'b', metric: words(0, 'B bad', { plan: 'plan wrong' }) },
        { name: 'c', metric: words(1, 'C ok') },
      ])(example, pred),
    );
    expect(v.byPredictor).toEqual({ plan: '- a (pass): plan fine\n- b (fail): plan wrong', analyze: '- a (pass): analysis fine' });
    const none = fb(await compositeMetric([words(1, 'x')])(example, pred));
    expect(none).not.toHaveProperty('byPredictor');
  });

  it('needs at least one member', () => {
    expect(() => compositeMetric([])).toThrow(/at least one member/);
  });
});

describe('metrics by name', () => {
  it('knows the shipped metrics, and lists them for an unknown name', () => {
    expect(METRIC_NAMES).toEqual(['exact_match', 'findings_f1', 'valid_json', 'code_analysis_judge', 'refactoring_judge', 'composite']);
    expect(() => getMetric('bleu')).toThrow(new MetricConfigError('unknown metric "bleu"; known metrics: exact_match, findings_f1, valid_json, code_analysis_judge, refactoring_judge, composite'));
  });

  it('passes each metric its options', () => {
    const severity = new Prediction({ severity: 'HIGH', findings: ['agent unsupervised'] });
    expect(fb(getMetric('exact_match', { fields: ['severity'], normalize: false })(example, severity)).score).toBe(0);
    expect(fb(getMetric('exact_match', { fields: ['severity'] })(example, severity)).score).toBe(1);
    expect(fb(getMetric('exact_match', { partial: true })(example, new Prediction({ severity: 'high' }))).score).toBe(0.5);
    expect(fb(getMetric('findings_f1', { field: 'severity' })(example, severity)).score).toBe(1);
    expect(fb(getMetric('findings_f1', { similarity: 1 })(example, new Prediction({ findings: ['agent unsupervised process'] }))).score).toBe(0);
    expect(fb(getMetric('findings_f1', { passAt: 0.9 })(example, new Prediction({ findings: ['agent unsupervised', 'x'] }))).score).toBe(0);
    expect(fb(getMetric('valid_json', { field: 'raw', requireObject: false })(example, new Prediction({ raw: '[1]' }))).score).toBe(1);
    expect(fb(getMetric('valid_json', { field: 'raw', requiredKeys: ['k'] })(example, new Prediction({ raw: '{}' }))).score).toBe(0);
  });

  it('refuses invalid options, naming the option by its path', () => {
    const bad: Array<[string, unknown, RegExp]> = [
      ['exact_match', { feilds: ['x'] }, /^invalid options for metric exact_match: options: .*feilds/],
      ['exact_match', { fields: [] }, /options\.fields/],
      ['exact_match', { fields: [''] }, /options\.fields\[0\]/],
      ['findings_f1', { similarity: 0 }, /options\.similarity/],
      ['findings_f1', { similarity: 1.01 }, /options\.similarity/],
      ['findings_f1', { passAt: -0.1 }, /options\.passAt/],
      ['findings_f1', { passAt: 1.1 }, /options\.passAt/],
      ['findings_f1', { field: '' }, /options\.field/],
      ['valid_json', { requireObject: 'yes' }, /options\.requireObject/],
      ['code_analysis_judge', { threshold: 11 }, /options\.threshold/],
      ['code_analysis_judge', { threshold: -1 }, /options\.threshold/],
      ['code_analysis_judge', { mode: 'strict' }, /options\.mode/],
      ['code_analysis_judge', { lm: '' }, /options\.lm/],
      ['refactoring_judge', { codeField: '' }, /options\.codeField/],
      ['refactoring_judge', { analysisStep: '' }, /options\.analysisStep/],
      ['composite', { metrics: [] }, /options\.metrics/],
      ['composite', {}, /options\.metrics/],
      ['composite', { metrics: [{ name: 'exact_match', extra: 1 }] }, /options\.metrics\[0\]/],
    ];
    for (const [name, options, re] of bad) expect(() => getMetric(name, options), `${name} ${JSON.stringify(options)}`).toThrow(re);
    for (const [name, options] of bad) expect(() => getMetric(name, options)).toThrow(MetricConfigError);
    // Valid edges are accepted.
    expect(() => getMetric('findings_f1', { similarity: 1, passAt: 0 })).not.toThrow();
    expect(() => getMetric('code_analysis_judge', { threshold: 0 })).not.toThrow();
    expect(() => getMetric('code_analysis_judge', { threshold: 10, mode: 'score' })).not.toThrow();
    expect(() => getMetric('exact_match', undefined)).not.toThrow();
  });

  it('builds judges with the LM the options name (through the resolver), else the deps\' LM', async () => {
    const named = new FixedLM(chat({ score: '3', reasoning: 'weak' }), 'named');
    const fallback = new FixedLM(chat({ score: '9', reasoning: 'good' }), 'fallback');
    const resolved: string[] = [];
    const deps = { lm: fallback, resolveLM: (spec: string) => (resolved.push(spec), named) };
    expect(fb(await getMetric('code_analysis_judge', { lm: 'offline' }, deps)(example, pred)).score).toBe(0);
    expect(resolved).toEqual(['offline']);
    expect(fb(await getMetric('code_analysis_judge', {}, deps)(example, pred)).score).toBe(1);
    expect(fb(await getMetric('code_analysis_judge', { mode: 'score', threshold: 2 }, deps)(example, pred))).toEqual({
      score: 0.9,
      feedback: 'The judge scored the analysis 9/10 (pass at 2): good',
    });
    expect(() => getMetric('code_analysis_judge', { lm: 'anthropic:x' })).toThrow(new MetricConfigError('metric option lm="anthropic:x" given but no LM resolver is available'));
    const ratings = new FixedLM(chat({ feasibility: '6', quality: '9', reasoning: 'r' }));
    expect(fb(await getMetric('refactoring_judge', { threshold: 6 }, { lm: ratings })(example, pred)).score).toBe(1);
    expect(fb(await getMetric('refactoring_judge', { mode: 'score' }, { lm: ratings })(example, pred)).score).toBe(0.6);
    expect(fb(await getMetric('refactoring_judge', { lm: 'x' }, { resolveLM: () => ratings })(example, pred)).score).toBe(0);
  });

  it('passes the refactoring judge its code field and analysis step', async () => {
    const prompts: string[] = [];
    const lm: LM = {
      provider: 'test',
      model: 'spy',
      async generate(messages) {
        prompts.push(messages.at(-1)?.content ?? '');
        return { text: chat({ feasibility: '8', quality: '8', reasoning: 'r' }), usage: { inputTokens: 1, outputTokens: 1 }, model: 'spy', cached: false, costUsd: 0 };
      },
    };
    const ex = new Example({ src: 'SOURCE' }).withInputs('src');
    const p = new Prediction({ plan: [], pipeline_result: { steps: { look: { text: 'LOOKED' }, other: { text: 'OTHER' } } } });
    await getMetric('refactoring_judge', { codeField: 'src', analysisStep: 'look' }, { lm })(ex, p);
    expect(prompts[0]).toContain('[[ ## original_code ## ]]\nSOURCE\n');
    expect(prompts[0]).toContain('[[ ## analysis_context ## ]]\nLOOKED\n');
  });

  it('builds a composite of metrics by name, with each member\'s threshold, and names a bad member by its index', async () => {
    const { logger, lines } = captureLogger();
    const m = getMetric(
      'composite',
      { metrics: [{ name: 'exact_match', options: { fields: ['severity'] } }, { name: 'findings_f1', threshold: 0.4 }, { name: 'code_analysis_judge' }] },
      { lm: new FixedLM('unreadable'), logger },
    );
    const v = fb(await m(example, new Prediction({ severity: 'high', findings: ['agent unsupervised', 'x', 'y'] })));
    expect(v.score).toBe(0);
    expect(v.feedback).toMatch(/^Not every check passed:\n- exact_match \(pass, score 1\): .*\n- findings_f1 \(pass, score 0\.5\): .*\n- code_analysis_judge \(fail, score 0\): The judge's output could not be read/);
    // The composite's logger is handed down to its judges.
    expect(lines.some((l) => String(l['msg']).includes('judge output could not be parsed'))).toBe(true);
    expect(() => getMetric('composite', { metrics: [{ name: 'exact_match' }, { name: 'findings_f1', options: { similarity: 5 } }] })).toThrow(
      /^options\.metrics\[1\]: invalid options for metric findings_f1: options\.similarity/,
    );
    expect(() => getMetric('composite', { metrics: [{ name: 'composite', options: { metrics: [{ name: 'nope' }] } }] })).toThrow(
      /^options\.metrics\[0\]: options\.metrics\[0\]: unknown metric "nope"/,
    );
    const thrower = () => {
      throw new Error('resolver down');
    };
    expect(() => getMetric('composite', { metrics: [{ name: 'code_analysis_judge', options: { lm: 'x' } }] }, { resolveLM: thrower })).toThrow(/^resolver down$/);
  });
});

describe('unscorable notes', () => {
  it('collects the notes one metric call makes, and ignores notes made outside a watch', async () => {
    noteUnscorable('outside: nobody listens');
    const { value, unscorable } = await watchUnscorable(async () => {
      noteUnscorable('first');
      await Promise.resolve();
      noteUnscorable('second');
      return 42;
    });
    expect(value).toBe(42);
    expect(unscorable).toEqual(['first', 'second']);
    expect((await watchUnscorable(() => 'quiet')).unscorable).toEqual([]);
  });
});
