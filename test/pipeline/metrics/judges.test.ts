/**
 * The seed's LLM judges (CodeAnalysisEvaluator, RefactoringEvaluator) and what they share
 * (judge.ts): the judge's signature and instructions (goldens: the text the judge LM reads),
 * what it is shown, the pass mark of 7.0 on both scales, score mode, fail-closed reading of
 * its scores, and the feedback a metric returns.
 */
import { describe, expect, it } from 'vitest';
import { captureLogger, chat } from './support.js';
import { Example, Predict, Prediction, type MetricFeedback } from '../../../src/dspy/index.js';
import type { ChatMessage, LM, LMResponse } from '../../../src/lm/types.js';
import { CODE_ANALYSIS_JUDGE_INSTRUCTIONS, CodeAnalysisEvaluator, codeAnalysisJudgeSignature } from '../../../src/pipeline/metrics/code_analysis_evaluator.js';
import { asText, judgedScore, JUDGE_PASS_SCORE, readScore, runJudge, UNREADABLE_JUDGEMENT } from '../../../src/pipeline/metrics/judge.js';
import { REFACTORING_JUDGE_INSTRUCTIONS, RefactoringEvaluator, refactoringJudgeSignature } from '../../../src/pipeline/metrics/refactoring_evaluator.js';
import { watchUnscorable } from '../../../src/pipeline/metrics/unscorable.js';

const fb = (v: unknown) => v as MetricFeedback;

/** An LM answering `text` (or a function of the prompt); keeps the user messages it was sent. */
class FixedLM implements LM {
  readonly provider = 'test';
  readonly model = 'fixed';
  users: string[] = [];
  system = '';
  constructor(readonly text: string | (() => Promise<string>)) {}
  async generate(messages: ChatMessage[]): Promise<LMResponse> {
    this.system = messages.find((m) => m.role === 'system')?.content ?? '';
    this.users.push(messages.filter((m) => m.role === 'user').map((m) => m.content).at(-1) ?? '');
    const text = typeof this.text === 'string' ? this.text : await this.text();
    return { text, usage: { inputTokens: 1, outputTokens: 1 }, model: this.model, cached: false, costUsd: 0 };
  }
}



const expected = { findings: ['Agent unsupervised'], severity: 'high' };
const example = new Example({ code: 'defmodule A do end', expected_output: expected }).withInputs('code');

describe('reading a judge\'s score', () => {
  it('reads numbers and numeric text on the 0-10 scale, "/10" allowed, bounds included', () => {
    expect(readScore(7)).toBe(7);
    expect(readScore(0)).toBe(0);
    expect(readScore(10)).toBe(10);
    expect(readScore('8')).toBe(8);
    expect(readScore(' 8.5 ')).toBe(8.5);
    expect(readScore('8/10')).toBe(8);
    expect(readScore('9.5 / 10')).toBe(9.5);
  });

  it('refuses anything else: words, extra text, out of range, not finite, other types', () => {
    for (const v of ['eight', '8 out of 10', 'score: 8', '8/100', '10.5', '-1', '-0.5', '', '.5', 10.01, -0.01, NaN, Infinity, null, undefined, true, [8]]) {
      expect(readScore(v), JSON.stringify(v)).toBeUndefined();
    }
  });

  it('notes an unreadable score as unscorable, with the value', async () => {
    const { value, unscorable } = await watchUnscorable(() => judgedScore({ score: 'eight' }, 'score'));
    expect(value).toBeUndefined();
    expect(unscorable).toEqual(['the judge\'s score "eight" is not a number from 0 to 10']);
    const missing = await watchUnscorable(() => judgedScore({}, 'quality'));
    expect(missing.unscorable).toEqual(["the judge's quality null is not a number from 0 to 10"]);
    const fine = await watchUnscorable(() => judgedScore({ score: '7' }, 'score'));
    expect(fine).toEqual({ value: 7, unscorable: [] });
  });

  it('shows values to the judge as text: strings as they are, the rest as indented JSON', () => {
    expect(asText('plain')).toBe('plain');
    expect(asText({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(asText(undefined)).toBe('null');
    expect(asText(null)).toBe('null');
    expect(JUDGE_PASS_SCORE).toBe(7);
  });
});

describe('running a judge', () => {
  it('returns the judge\'s fields, run in its own trace', async () => {
    const judge = new Predict(codeAnalysisJudgeSignature());
    judge.lm = new FixedLM(chat({ score: '6', reasoning: 'r' }));
    expect(await runJudge(judge, { analysis_output: 'a', expected_output: 'e' }, captureLogger().logger)).toEqual({ score: 6, reasoning: 'r' });
  });

  it('an unparseable answer is undefined, logged and noted as unscorable', async () => {
    const judge = new Predict(codeAnalysisJudgeSignature());
    judge.lm = new FixedLM('no fields at all');
    const { logger, lines } = captureLogger();
    const { value, unscorable } = await watchUnscorable(() => runJudge(judge, { analysis_output: 'a', expected_output: 'e' }, logger));
    expect(value).toBeUndefined();
    expect(unscorable).toHaveLength(1);
    expect(unscorable[0]).toMatch(/^the judge's output could not be parsed \(/);
    expect(lines.some((l) => l['level'] === 40 && (l['err'] as { name?: string })?.name === 'AdapterParseError')).toBe(true);
  });

  it('any other failure of the judge (budget, network) propagates', async () => {
    const judge = new Predict(codeAnalysisJudgeSignature());
    judge.lm = new FixedLM(() => Promise.reject(Object.assign(new Error('connection reset'), { name: 'LMError' })));
    await expect(runJudge(judge, { analysis_output: 'a', expected_output: 'e' }, captureLogger().logger)).rejects.toThrow(/connection reset/);
  });
});

describe('CodeAnalysisEvaluator', () => {
  it('asks with the seed\'s typed signature and instructions', () => {
    const sig = codeAnalysisJudgeSignature().toJSON();
    expect(sig.fields.map((f) => [f.role, f.name, f.type, f.description])).toEqual([
      ['input', 'analysis_output', 'str', 'the analysis produced by the pipeline (JSON)'],
      ['input', 'expected_output', 'str', 'the reference analysis (JSON)'],
      ['output', 'score', 'float', 'quality from 0 to 10'],
      ['output', 'reasoning', 'str', 'why this score, briefly'],
    ]);
    expect(sig.instructions).toBe(CODE_ANALYSIS_JUDGE_INSTRUCTIONS);
    expect(CODE_ANALYSIS_JUDGE_INSTRUCTIONS).toBe(
      'You are a senior Elixir/OTP reviewer grading a code analysis. Compare the analysis with the expected analysis: ' +
        'does it find the same problems (supervision, process design, concurrency, performance, correctness), are its ' +
        'recommendations sound and actionable, is the severity right? Extra correct findings are fine; wrong or missing ' +
        'important findings lower the score. Give `score` from 0 (useless) to 10 (as good as or better than expected) and ' +
        'a short `reasoning`.',
    );
  });

  it('shows the prediction\'s fields as JSON, or the raw pipeline output when it has none, beside the expected output', async () => {
    const lm = new FixedLM(chat({ score: '8', reasoning: 'ok' }));
    const judge = new CodeAnalysisEvaluator({ lm });
    await judge.evaluate(example, new Prediction({ severity: 'low', pipeline_result: { output: 'ignored' } }));
    expect(lm.users[0]).toContain('[[ ## analysis_output ## ]]\n{\n  "severity": "low"\n}\n\n[[ ## expected_output ## ]]\n{\n  "findings": [\n    "Agent unsupervised"\n  ],\n  "severity": "high"\n}');
    expect(lm.system).toContain(CODE_ANALYSIS_JUDGE_INSTRUCTIONS);
    await judge.evaluate(example, new Prediction({ pipeline_result: { output: 'raw text answer' } }));
    expect(lm.users[1]).toContain('[[ ## analysis_output ## ]]\nraw text answer\n\n');
  });

  it('passes at 7.0 or above by default, at its threshold when given; score mode is score/10', async () => {
    const at = (score: string, opts = {}) => new CodeAnalysisEvaluator({ lm: new FixedLM(chat({ score, reasoning: 'r' })), ...opts });
    expect(await at('7').evaluate(example, new Prediction({}))).toBe(true);
    expect(await at('6.99').evaluate(example, new Prediction({}))).toBe(false);
    expect(await at('8', { threshold: 8 }).evaluate(example, new Prediction({}))).toBe(true);
    expect(await at('7.5', { threshold: 8 }).evaluate(example, new Prediction({}))).toBe(false);
    expect(at('1').threshold).toBe(7);
    expect(await at('6', { mode: 'score' }).evaluate(example, new Prediction({}))).toBe(0.6);
    expect(await at('6', { mode: 'pass' }).evaluate(example, new Prediction({}))).toBe(false);
    expect(await at('6').judgeOne(example, new Prediction({}))).toEqual({ score: 6, reasoning: 'r', passed: false });
  });

  it('fails closed on an unreadable judgement: false, 0 in score mode, and feedback saying so', async () => {
    const quiet = { logger: captureLogger().logger };
    expect(await new CodeAnalysisEvaluator({ lm: new FixedLM('prose'), ...quiet }).evaluate(example, new Prediction({}))).toBe(false);
    expect(await new CodeAnalysisEvaluator({ lm: new FixedLM(chat({ score: '11', reasoning: 'r' })), mode: 'score', ...quiet }).evaluate(example, new Prediction({}))).toBe(0);
    expect(fb(await new CodeAnalysisEvaluator({ lm: new FixedLM('prose'), ...quiet }).asMetric()(example, new Prediction({})))).toEqual({ score: 0, feedback: UNREADABLE_JUDGEMENT });
  });

  it('as a metric: the verdict (or score/10) with the judge\'s score and reasoning as feedback', async () => {
    const pass = fb(await new CodeAnalysisEvaluator({ lm: new FixedLM(chat({ score: '9', reasoning: 'Finds the supervision problem.' })) }).asMetric()(example, new Prediction({})));
    expect(pass).toEqual({ score: 1, feedback: 'The judge scored the analysis 9/10 (pass at 7): Finds the supervision problem.' });
    const scored = fb(await new CodeAnalysisEvaluator({ lm: new FixedLM(chat({ score: '4', reasoning: '' })), mode: 'score', threshold: 5 }).asMetric()(example, new Prediction({})));
    expect(scored).toEqual({ score: 0.4, feedback: 'The judge scored the analysis 4/10 (pass at 5): (no reasoning given)' });
  });
});

describe('RefactoringEvaluator', () => {
  const ex = new Example({ code: 'defmodule A do end', source: 'defmodule B do end', goal: 'g' }).withInputs('code', 'goal');
  const steps = { analyze: { text: 'analysis text', success: true }, review: { output: { ok: true } }, other: {} };
  const pred = new Prediction({ plan: ['supervise it'], pipeline_result: { status: 'ok', steps, output: null } });
  const rated = (feasibility: string, quality: string, reasoning = 'r') => chat({ feasibility, quality, reasoning });

  it('asks with the seed\'s typed signature and instructions', () => {
    const sig = refactoringJudgeSignature().toJSON();
    expect(sig.fields.map((f) => [f.role, f.name, f.type, f.description])).toEqual([
      ['input', 'original_code', 'str', 'the code to refactor'],
      ['input', 'refactoring_plan', 'str', 'the proposed plan (JSON)'],
      ['input', 'analysis_context', 'str', 'the analysis the plan is based on'],
      ['output', 'feasibility', 'float', '0 to 10'],
      ['output', 'quality', 'float', '0 to 10'],
      ['output', 'reasoning', 'str', 'why these scores, briefly'],
    ]);
    expect(sig.instructions).toBe(REFACTORING_JUDGE_INSTRUCTIONS);
    expect(REFACTORING_JUDGE_INSTRUCTIONS).toBe(
      'You are a senior Elixir/OTP engineer reviewing a refactoring plan for the given code. Rate `feasibility` (0-10): ' +
        'can the steps be carried out as written, in this order, without breaking callers or behaviour? Rate `quality` ' +
        '(0-10): does the plan fix the real problems the analysis found, idiomatically (OTP supervision, process design, ' +
        'Ecto, ETS), with tests to prove it? Give a short `reasoning`.',
    );
  });

  it('shows the code, the plan, and the analysis: the example\'s, else the named step\'s text, else every step\'s', async () => {
    const lm = new FixedLM(rated('8', '8'));
    await new RefactoringEvaluator({ lm }).evaluate(ex, pred);
    expect(lm.users[0]).toContain(
      '[[ ## original_code ## ]]\ndefmodule A do end\n\n[[ ## refactoring_plan ## ]]\n{\n  "plan": [\n    "supervise it"\n  ]\n}\n\n' +
        '[[ ## analysis_context ## ]]\n{\n  "analyze": "analysis text",\n  "review": {\n    "ok": true\n  },\n  "other": null\n}',
    );
    expect(lm.system).toContain(REFACTORING_JUDGE_INSTRUCTIONS);
    await new RefactoringEvaluator({ lm, analysisStep: 'analyze', codeField: 'source' }).evaluate(ex, pred);
    expect(lm.users[1]).toContain('[[ ## original_code ## ]]\ndefmodule B do end\n\n');
    expect(lm.users[1]).toContain('[[ ## analysis_context ## ]]\nanalysis text\n\n');
    await new RefactoringEvaluator({ lm, analysisStep: 'missing' }).evaluate(ex, pred);
    expect(lm.users[2]).toContain('[[ ## analysis_context ## ]]\nnull\n\n');
    const withContext = new Example({ code: 'x', analysis_context: 'given analysis' }).withInputs('code', 'analysis_context');
    await new RefactoringEvaluator({ lm, analysisStep: 'analyze' }).evaluate(withContext, pred);
    expect(lm.users[3]).toContain('[[ ## analysis_context ## ]]\ngiven analysis\n\n');
    await new RefactoringEvaluator({ lm, codeField: 'nope' }).evaluate(ex, pred);
    expect(lm.users[4]).toContain('[[ ## original_code ## ]]\n\n\n[[ ## refactoring_plan');
  });

  it('passes only when feasibility and quality both reach the threshold (7.0 by default); score mode is min/10', async () => {
    const judge = (text: string, opts = {}) => new RefactoringEvaluator({ lm: new FixedLM(text), logger: captureLogger().logger, ...opts });
    expect(await judge(rated('7', '7')).evaluate(ex, pred)).toBe(true);
    expect(await judge(rated('7', '6.9')).evaluate(ex, pred)).toBe(false);
    expect(await judge(rated('6.9', '10')).evaluate(ex, pred)).toBe(false);
    expect(await judge(rated('6', '6'), { threshold: 6 }).evaluate(ex, pred)).toBe(true);
    expect(judge(rated('1', '1')).threshold).toBe(7);
    expect(await judge(rated('9', '4'), { mode: 'score' }).evaluate(ex, pred)).toBe(0.4);
    expect(await judge(rated('3', '8'), { mode: 'score' }).evaluate(ex, pred)).toBe(0.3);
    expect(await judge(rated('x', '8'), { mode: 'score' }).evaluate(ex, pred)).toBe(0);
    expect(await judge(rated('8', 'x')).evaluate(ex, pred)).toBe(false);
    expect(await judge('prose').evaluate(ex, pred)).toBe(false);
    expect(await judge(rated('8', '9', 'fine')).judgeOne(ex, pred)).toEqual({ feasibility: 8, quality: 9, reasoning: 'fine', passed: true });
  });

  it('as a metric: the verdict (or min/10) with both ratings and the reasoning; unreadable fails closed', async () => {
    const judge = (text: string, opts = {}) => new RefactoringEvaluator({ lm: new FixedLM(text), logger: captureLogger().logger, ...opts }).asMetric();
    const bare = new Prediction({ plan: ['p'] });
    expect(fb(await judge(rated('8', '6', 'No tests.'))(ex, bare))).toEqual({
      score: 0,
      feedback: "The judge rated the plan's feasibility 8/10 and quality 6/10 (both must be at least 7): No tests.",
    });
    expect(fb(await judge(rated('8', '9', ''), { threshold: 8 })(ex, bare))).toEqual({
      score: 1,
      feedback: "The judge rated the plan's feasibility 8/10 and quality 9/10 (both must be at least 8): (no reasoning given)",
    });
    expect(fb(await judge(rated('8', '6'), { mode: 'score' })(ex, bare)).score).toBe(0.6);
    expect(fb(await judge('prose')(ex, bare))).toEqual({ score: 0, feedback: UNREADABLE_JUDGEMENT });
  });
});
