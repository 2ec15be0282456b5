/**
 * What the shipped metrics say besides their score: the feedback GEPA's reflection LM reads,
 * and its attribution (`byPredictor`) to the pipeline step that wrote the answer.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Example, Prediction, settings, type MetricFeedback } from '../../../src/dspy/index.js';
import type { ChatMessage, LM, LMResponse } from '../../../src/lm/types.js';
import { GEPA, metricToNumber } from '../../../src/optimizers/index.js';
import { answerStepOf, CodeAnalysisEvaluator, getMetric, parsePipeline, PipelineProgram, RefactoringEvaluator } from '../../../src/pipeline/index.js';
import { referenceExecutor } from '../helpers.js';

afterEach(() => settings.reset());

class FixedLM implements LM {
  readonly provider = 'test';
  readonly model = 'fixed';
  prompts: string[] = [];
  constructor(readonly text: string | ((prompt: string) => string)) {}
  async generate(messages: ChatMessage[]): Promise<LMResponse> {
    const prompt = messages.map((m) => m.content).join('\n');
    this.prompts.push(prompt);
    const text = typeof this.text === 'string' ? this.text : this.text(prompt);
    return { text, usage: { inputTokens: 1, outputTokens: 1 }, model: this.model, cached: false, costUsd: 0 };
  }
}

const chat = (fields: Record<string, string>) =>
  `${Object.entries(fields)
    .map(([k, v]) => `[[ ## ${k} ## ]]\n${v}`)
    .join('\n\n')}\n\n[[ ## completed ## ]]`;

const quiet = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));
const expected = { findings: ['Agent started without supervision', 'No error handling for Agent.start_link'], severity: 'medium' };
const example = new Example({ code: 'defmodule A do end', ...expected, expected_output: expected }).withInputs('code');
/** A two-step pipeline's prediction: `plan` ran last, so it wrote the answer. */
const fromPipeline = (fields: Record<string, unknown>, output: unknown = JSON.stringify(fields), order = ['analyze', 'plan']) =>
  new Prediction({
    ...fields,
    pipeline_result: { status: 'ok', steps: { analyze: { text: 'analysis', success: true }, plan: { text: 'x', success: true } }, order, output, durationMs: 1 },
  });

const fb = (v: unknown) => v as MetricFeedback;

describe('findings_f1 feedback', () => {
  it('names the findings missed and invented, with the F1 as the score', async () => {
    const pred = fromPipeline({ findings: ['Agent started without supervision', 'Uses String.to_atom on user input'] });
    const v = fb(await getMetric('findings_f1')(example, pred));
    expect(v.score).toBeCloseTo(0.5);
    expect(v.feedback).toContain('Missed (expected, not found): "No error handling for Agent.start_link"');
    expect(v.feedback).toContain('Invented (not expected): "Uses String.to_atom on user input"');
    expect(v.feedback).not.toContain('"Agent started without supervision"');
    // The answer came from `plan`: its reflection gets this feedback.
    expect(v.byPredictor).toEqual({ plan: v.feedback });
  });

  it('says which field is missing and what was expected; passAt scores 1 / 0', async () => {
    const v = fb(await getMetric('findings_f1', { passAt: 0.5 })(example, fromPipeline({ issues: ['x'] })));
    expect(v.score).toBe(0);
    expect(v.feedback).toMatch(/no `findings` field \(it has `issues`\)/);
    expect(v.feedback).toContain('"No error handling for Agent.start_link"');
    const all = fb(await getMetric('findings_f1', { passAt: 0.5 })(example, new Prediction({ findings: expected.findings })));
    expect(all.score).toBe(1);
    expect(all.feedback).toContain('Every expected finding was found and none was invented');
    expect(all.byPredictor).toBeUndefined(); // not a pipeline's prediction: nothing to attribute
  });
});

describe('exact_match and valid_json feedback', () => {
  it('exact_match: expected vs got for each field that differs, and missing fields', async () => {
    const v = fb(await getMetric('exact_match')(example, fromPipeline({ findings: expected.findings, severity: 'high' })));
    expect(v.score).toBe(0);
    expect(v.feedback).toContain('`severity`: expected "medium", got "high"');
    expect(v.feedback).not.toContain('`findings`');
    const partial = fb(await getMetric('exact_match', { partial: true })(example, fromPipeline({ severity: 'Medium' })));
    expect(partial.score).toBeCloseTo(0.5);
    expect(partial.feedback).toContain('`findings`: missing (expected ["Agent started');
  });

  it('valid_json: not JSON, keys missing, keys of the wrong type', async () => {
    const m = getMetric('valid_json', { requiredKeys: ['findings', 'severity'] });
    const notJson = fb(await m(example, fromPipeline({}, 'Here is my analysis: it is fine')));
    expect(notJson.score).toBe(0);
    expect(notJson.feedback).toContain('is not JSON: "Here is my analysis: it is fine"');
    const missing = fb(await m(example, fromPipeline({}, '{"findings": "one long string"}')));
    expect(missing.score).toBe(0);
    expect(missing.feedback).toContain('lacks the keys `severity`');
    expect(missing.feedback).toContain('Key `findings` is a string; the expected output has an array');
    expect(missing.byPredictor).toEqual({ plan: missing.feedback });
    const ok = fb(await m(example, fromPipeline({}, '{"findings": [], "severity": "low"}')));
    expect(ok.score).toBe(1);
    expect(ok.feedback).toBe('The answer is valid JSON (an object).');
  });
});

describe('LLM judge feedback', () => {
  it('carries the judge\'s own reasoning; unreadable output still fails closed', async () => {
    const judge = new CodeAnalysisEvaluator({ lm: new FixedLM(chat({ score: '6', reasoning: 'It misses the start_link error handling.' })), logger: quiet });
    const v = fb(await judge.asMetric()(example, fromPipeline(expected)));
    expect(v.score).toBe(0);
    expect(v.feedback).toBe('The judge scored the analysis 6/10 (pass at 7): It misses the start_link error handling.');
    const broken = new CodeAnalysisEvaluator({ lm: new FixedLM('no fields at all'), logger: quiet, mode: 'score' });
    const b = fb(await broken.asMetric()(example, fromPipeline(expected)));
    expect(b.score).toBe(0);
    expect(b.feedback).toMatch(/could not be read.*fail closed/);
  });

  it('refactoring judge: both ratings and the reasoning, score mode as before', async () => {
    const lm = new FixedLM(chat({ feasibility: '8', quality: '5', reasoning: 'No tests prove the new supervision tree.' }));
    const judge = new RefactoringEvaluator({ lm, logger: quiet, mode: 'score' });
    const v = fb(await judge.asMetric()(new Example({ code: 'c', goal: 'g' }).withInputs('code', 'goal'), fromPipeline({ plan: ['p'] })));
    expect(v.score).toBeCloseTo(0.5);
    expect(v.feedback).toContain('feasibility 8/10 and quality 5/10');
    expect(v.feedback).toContain('No tests prove the new supervision tree.');
    expect(v.byPredictor).toEqual({ plan: v.feedback });
  });
});

describe('composite feedback and attribution', () => {
  it('one line per member with its verdict; members\' per-step feedback gathered under the step', async () => {
    const composite = getMetric(
      'composite',
      { metrics: [{ name: 'valid_json', options: { requiredKeys: ['findings'] } }, { name: 'exact_match', options: { fields: ['severity'] } }] },
      { logger: quiet },
    );
    const v = fb(await composite(example, fromPipeline({ severity: 'low' }, '{"severity": "low"}')));
    expect(v.score).toBe(0);
    expect(v.feedback).toMatch(/^Not every check passed:\n- valid_json \(fail, score 0\): .*lacks the keys `findings`/);
    expect(v.feedback).toContain('- exact_match (fail, score 0): 0 of 1 fields match');
    expect(v.byPredictor?.['plan']).toMatch(/^- valid_json \(fail\): .*\n- exact_match \(fail\): /);
    // Numeric and boolean members still count by their value (other optimizers read only the score).
    const mixed = getMetric('composite', { metrics: [{ name: 'exact_match', options: { fields: ['severity'] } }] });
    expect(metricToNumber(await mixed(example, fromPipeline({ severity: 'Medium' })))).toBe(1);
  });

  it('attributes to the last step that ran (a skipped last step does not count)', () => {
    const skipped = new Prediction({
      pipeline_result: { status: 'ok', steps: { analyze: { text: 'a', success: true }, plan: { success: true, skipped: true, reason: 'condition false' } }, order: ['analyze', 'plan'], output: 'a', durationMs: 1 },
    });
    expect(answerStepOf(skipped)).toBe('analyze');
    expect(answerStepOf(fromPipeline({}))).toBe('plan');
    expect(answerStepOf(new Prediction({ findings: [] }))).toBeUndefined();
  });

  it('GEPA\'s reflection on a pipeline step reads the feedback attributed to that step (by step name)', async () => {
    const config = parsePipeline({
      workflow: {
        name: 'two_steps',
        steps: [
          { name: 'analyze-code', type: 'claude', prompt: [{ type: 'static', content: 'Analyse {{inputs.code}}' }] },
          {
            name: 'write-plan',
            type: 'claude',
            prompt: [
              { type: 'static', content: 'Plan for {{inputs.code}}' },
              { type: 'previous_response', step: 'analyze-code' },
            ],
          },
        ],
      },
    });
    const task = new FixedLM('not JSON at all');
    const examples = Array.from({ length: 6 }, (_, i) => new Example({ code: `defmodule M${i} do end`, expected_output: { plan: ['x'] } }).withInputs('code'));
    const program = new PipelineProgram(config, { executor: referenceExecutor(task), trainset: examples });
    expect(program.namedPredictors().map(([p]) => p)).toEqual(['analyze_code', 'write_plan']);
    const reflector = new FixedLM(chat({ new_instruction: 'Answer with a JSON object.' }));
    const metric = getMetric('composite', { metrics: [{ name: 'valid_json', options: { requiredKeys: ['plan'] } }] }, { logger: quiet });
    await new GEPA({ maxMetricCalls: 40, reflectionLm: reflector, reflectionMinibatchSize: 2 }).compile(program, {
      trainset: examples.slice(0, 4),
      valset: examples.slice(4),
      metric,
      seed: 1,
    });
    const [first, second] = reflector.prompts;
    // Round robin: analyze-code first (it gets the whole program's feedback), then write-plan
    // (it gets what concerns the answer it wrote).
    expect(first).toContain('Not every check passed');
    expect(first).toContain('The answer is not JSON: "not JSON at all"');
    expect(second).toContain('- valid_json (fail): The answer is not JSON');
    expect(second).not.toContain('Not every check passed');
  });
});
