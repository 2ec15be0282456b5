import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Example, Prediction, settings } from '../../src/dspy/index.js';
import { BudgetExceededError } from '../../src/lm/budget.js';
import { metricToNumber } from '../../src/optimizers/evaluate.js';
import { LMError } from '../../src/lm/errors.js';
import type { ChatMessage, LM, LMResponse } from '../../src/lm/types.js';
import {
  CodeAnalysisEvaluator,
  compositeMetric,
  findingsF1Score,
  getMetric,
  MetricConfigError,
  RefactoringEvaluator,
} from '../../src/pipeline/index.js';

/** A metric value as the score optimizers read. */
const n = (v: unknown) => metricToNumber(v);

/** An LM that always answers `text` (so the chat adapter's JSON retry gets the same answer). */
class FixedLM implements LM {
  readonly provider = 'test';
  readonly model = 'fixed';
  calls = 0;
  lastPrompt = '';
  constructor(readonly text: string) {}
  async generate(messages: ChatMessage[]): Promise<LMResponse> {
    this.calls++;
    this.lastPrompt = messages.map((m) => m.content).join('\n');
    return { text: this.text, usage: { inputTokens: 1, outputTokens: 1 }, model: this.model, cached: false, costUsd: 0 };
  }
}

const chat = (fields: Record<string, string>) =>
  `${Object.entries(fields)
    .map(([k, v]) => `[[ ## ${k} ## ]]\n${v}`)
    .join('\n\n')}\n\n[[ ## completed ## ]]`;

const expected = { findings: ['Agent started without supervision', 'No error handling for Agent.start_link'], recommendations: ['Supervise it'], severity: 'medium' };
const example = new Example({ code: 'defmodule A do end', analysis_type: 'otp', ...expected, expected_output: expected }).withInputs('code', 'analysis_type');
const prediction = new Prediction({ ...expected, pipeline_result: { status: 'ok', steps: {}, output: JSON.stringify(expected), durationMs: 1 } });

function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('LLM judges', () => {
  it('CodeAnalysisEvaluator passes at 7.0 and reports the score in score mode', async () => {
    const lm = new FixedLM(chat({ score: '7', reasoning: 'matches the expected findings' }));
    expect(await new CodeAnalysisEvaluator({ lm }).evaluate(example, prediction)).toBe(true);
    expect(lm.lastPrompt).toContain('Agent started without supervision');
    expect(await new CodeAnalysisEvaluator({ lm: new FixedLM(chat({ score: '6.9', reasoning: 'x' })) }).evaluate(example, prediction)).toBe(false);
    expect(await new CodeAnalysisEvaluator({ lm: new FixedLM(chat({ score: '8.5', reasoning: 'x' })), mode: 'score' }).evaluate(example, prediction)).toBeCloseTo(0.85);
    // JSON answers are read through the adapter's JSON fallback.
    expect(await new CodeAnalysisEvaluator({ lm: new FixedLM('{"score": 9, "reasoning": "good"}') }).evaluate(example, prediction)).toBe(true);
  });

  it.each([
    ['prose', 'The analysis is quite good, I would say eight out of ten.'],
    ['a non-numeric score', chat({ score: 'eight', reasoning: 'x' })],
    ['a score above 10', chat({ score: '15', reasoning: 'x' })],
    ['a negative score', chat({ score: '-1', reasoning: 'x' })],
    ['a missing field', chat({ score: '9' })],
    ['broken JSON', '{"score": 9, "reasoning": '],
    ['empty output', ''],
  ])('CodeAnalysisEvaluator fails closed on %s', async (_what, text) => {
    const { logger } = captureLogger();
    expect(await new CodeAnalysisEvaluator({ lm: new FixedLM(text), logger }).evaluate(example, prediction)).toBe(false);
    expect(await new CodeAnalysisEvaluator({ lm: new FixedLM(text), logger, mode: 'score' }).evaluate(example, prediction)).toBe(0);
  });

  it('RefactoringEvaluator needs feasibility and quality both at least 7.0, and fails closed', async () => {
    const ex = new Example({ code: 'defmodule A do end', goal: 'g', plan: ['p'] }).withInputs('code', 'goal');
    const pred = new Prediction({ plan: ['p'], pipeline_result: { status: 'ok', steps: { analyze: { text: 'analysis text', success: true } }, output: null, durationMs: 1 } });
    const judge = (text: string) => new RefactoringEvaluator({ lm: new FixedLM(text), logger: captureLogger().logger, analysisStep: 'analyze' });
    const lm = new FixedLM(chat({ feasibility: '8', quality: '7', reasoning: 'ok' }));
    expect(await new RefactoringEvaluator({ lm, analysisStep: 'analyze' }).evaluate(ex, pred)).toBe(true);
    expect(lm.lastPrompt).toContain('analysis text');
    expect(lm.lastPrompt).toContain('defmodule A do end');
    expect(await judge(chat({ feasibility: '9', quality: '6.5', reasoning: 'x' })).evaluate(ex, pred)).toBe(false);
    expect(await judge(chat({ feasibility: '6', quality: '9', reasoning: 'x' })).evaluate(ex, pred)).toBe(false);
    expect(await judge(chat({ feasibility: 'high', quality: '9', reasoning: 'x' })).evaluate(ex, pred)).toBe(false);
    expect(await judge('{"feasibility": 9}').evaluate(ex, pred)).toBe(false);
    expect(await judge(chat({ feasibility: '9', quality: '6', reasoning: 'x' })).evaluate(ex, pred)).toBe(false);
  });
});

describe('composite metric', () => {
  it('passes only when every member passes; a throwing member is a logged fail and the rest still run', async () => {
    const { logger, lines } = captureLogger();
    let ran = 0;
    const yes = () => (ran++, true);
    const score = (v: number) => () => (ran++, v);
    const boom = () => {
      throw new Error('judge exploded');
    };
    expect(n(await compositeMetric([yes, score(0.9)], { logger })(example, prediction))).toBe(1);
    expect(n(await compositeMetric([yes, score(0.5)], { logger })(example, prediction))).toBe(0);
    expect(n(await compositeMetric([{ name: 'lenient', metric: score(0.5), threshold: 0.5 }], { logger })(example, prediction))).toBe(1);
    ran = 0;
    expect(n(await compositeMetric([{ name: 'exploding_judge', metric: boom }, yes], { logger })(example, prediction))).toBe(0);
    expect(ran).toBe(1);
    expect(lines.some((l) => l['metric'] === 'exploding_judge' && JSON.stringify(l).includes('judge exploded'))).toBe(true);
    const rejecting = async () => Promise.reject(new Error('async failure'));
    expect(n(await compositeMetric([rejecting], { logger })(example, prediction))).toBe(0);
    expect(() => compositeMetric([])).toThrow(/at least one/);
  });

  it('lets a budget or abort stop through instead of scoring it as a fail (the run must stop, not journal a false fail)', async () => {
    const { logger } = captureLogger();
    const overBudget = () => {
      throw new BudgetExceededError('calls', 3, 3);
    };
    await expect(compositeMetric([{ name: 'judge', metric: overBudget }], { logger })(example, prediction)).rejects.toBeInstanceOf(BudgetExceededError);
    const aborted = () => {
      throw new LMError('aborted', { kind: 'aborted', provider: 'dummy' });
    };
    await expect(compositeMetric([aborted], { logger })(example, prediction)).rejects.toThrow(/aborted/);
    const ac = new AbortController();
    ac.abort();
    const failsAfterAbort = () => {
      throw new Error('socket closed');
    };
    await expect(settings.context({ signal: ac.signal }, () => compositeMetric([failsAfterAbort], { logger })(example, prediction))).rejects.toThrow(/socket closed/);
  });
});

describe('deterministic metrics', () => {
  it('findings F1: fuzzy, one-to-one, normalised', () => {
    const exp = ['Agent started without supervision', 'No error handling for Agent.start_link', 'State is not persistent across crashes'];
    expect(findingsF1Score(['  AGENT   started WITHOUT supervision. ', 'no ERROR handling for agent.start_link'], exp).f1).toBeCloseTo(0.8);
    // One verbose finding cannot match several expected ones.
    const verbose = ['Agent started without supervision, no error handling for Agent.start_link, state not persistent across crashes'];
    expect(findingsF1Score(verbose, exp).pairs).toHaveLength(1);
    expect(findingsF1Score(['Agents are started without supervisors'], ['Agent started without supervision']).f1).toBe(1);
    expect(findingsF1Score(['Use ETS for the cache'], exp).f1).toBe(0);
    expect(findingsF1Score([], []).f1).toBe(1);
    expect(findingsF1Score([], exp).f1).toBe(0);
    const m = getMetric('findings_f1', { passAt: 0.6 });
    const pred = new Prediction({ findings: '- Agent started without supervision\n- No error handling for Agent.start_link' });
    expect(n(m(example, pred))).toBe(1);
    expect(n(getMetric('findings_f1')(example, pred))).toBeCloseTo(1);
  });

  it('findings F1 fails closed when the prediction has no findings field, even against an expected empty list', () => {
    const clean = new Example({ code: 'ok', expected_output: { findings: [], severity: 'low' } }).withInputs('code');
    const garbage = new Prediction({ pipeline_result: { status: 'ok', steps: {}, output: 'I could not analyse this.' } });
    expect(n(getMetric('findings_f1')(clean, garbage))).toBe(0);
    expect(n(getMetric('findings_f1', { passAt: 0.5 })(clean, garbage))).toBe(0);
    // An honest empty list still matches an expected empty list.
    expect(n(getMetric('findings_f1')(clean, new Prediction({ findings: [] })))).toBe(1);
    // A misnamed field (absent from the expected output) passes nothing.
    expect(n(getMetric('findings_f1', { field: 'issues' })(clean, new Prediction({ findings: [] })))).toBe(0);
  });

  it('exact match per field or whole, valid JSON', () => {
    const whole = getMetric('exact_match');
    expect(n(whole(example, prediction))).toBe(1);
    expect(n(whole(example, new Prediction({ ...expected, severity: 'HIGH' })))).toBe(0);
    expect(n(getMetric('exact_match', { fields: ['severity'] })(example, new Prediction({ severity: '  Medium ' })))).toBe(1);
    expect(n(getMetric('exact_match', { fields: ['severity'], normalize: false })(example, new Prediction({ severity: 'Medium' })))).toBe(0);
    expect(n(getMetric('exact_match', { partial: true })(example, new Prediction({ severity: 'medium' })))).toBeCloseTo(1 / 3);
    expect(n(getMetric('valid_json')(example, prediction))).toBe(1);
    expect(n(getMetric('valid_json')(example, new Prediction({ pipeline_result: { output: 'not json {' } })))).toBe(0);
    expect(n(getMetric('valid_json', { field: 'raw', requiredKeys: ['a'] })(example, new Prediction({ raw: '```json\n{"a": 1}\n```' })))).toBe(1);
    expect(n(getMetric('valid_json', { field: 'raw' })(example, new Prediction({ raw: '[1, 2]' })))).toBe(0);
  });

  it('registry: by name with validated options', async () => {
    expect(() => getMetric('bleu')).toThrow(/unknown metric "bleu"; known metrics: exact_match, findings_f1/);
    expect(() => getMetric('findings_f1', { similarity: 2 })).toThrow(MetricConfigError);
    expect(() => getMetric('exact_match', { feilds: ['x'] })).toThrow(/options/);
    expect(() => getMetric('composite', { metrics: [{ name: 'nope' }] })).toThrow(/options\.metrics\[0\]: unknown metric "nope"/);
    const lm = new FixedLM(chat({ score: '9', reasoning: 'fine' }));
    const composite = getMetric(
      'composite',
      { metrics: [{ name: 'code_analysis_judge' }, { name: 'findings_f1', threshold: 0.9 }, { name: 'valid_json' }] },
      { lm, logger: captureLogger().logger },
    );
    expect(n(await composite(example, prediction))).toBe(1);
    expect(lm.calls).toBe(1);
    expect(() => getMetric('code_analysis_judge', { lm: 'anthropic:x' })).toThrow(/no LM resolver/);
    const resolved: string[] = [];
    getMetric('refactoring_judge', { lm: 'offline', analysisStep: 'a' }, { resolveLM: (s) => (resolved.push(s), lm) });
    expect(resolved).toEqual(['offline']);
  });
});
