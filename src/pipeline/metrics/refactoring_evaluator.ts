/**
 * The seed's RefactoringEvaluator: an LLM judge rates a refactoring plan's `feasibility` and
 * `quality` (each 0-10) with `reasoning`; the plan passes only when both are at least 7.0.
 *
 * Typed signature:
 * `original_code: str, refactoring_plan: str, analysis_context: str -> feasibility: float, quality: float, reasoning: str`.
 * - `original_code`: the example's `codeField` input (default `code`);
 * - `refactoring_plan`: the prediction's output fields as JSON;
 * - `analysis_context`: the example's `analysis_context` when it has one; else the text of the
 *   `analysisStep` step from `pipeline_result.steps` when that option names one; else the texts
 *   of all steps in `pipeline_result.steps` as a JSON map.
 * In `score` mode the result is min(feasibility, quality) / 10. Unparseable output fails closed.
 * As a metric (`asMetric`) it returns `{score, feedback}`: the two ratings and the judge's reasoning.
 */
import { Predict, Signature, type Metric, type MetricFeedback } from '../../dspy/index.js';
import { feedbackResult } from './feedback.js';
import { pipelineLogger } from '../log.js';
import { predictedOutputOf, recordOf } from './fields.js';
import { asText, JUDGE_PASS_SCORE, judgedScore, runJudge, UNREADABLE_JUDGEMENT, type JudgeOptions } from './judge.js';

export const REFACTORING_JUDGE_INSTRUCTIONS =
  'You are a senior Elixir/OTP engineer reviewing a refactoring plan for the given code. Rate `feasibility` (0-10): ' +
  'can the steps be carried out as written, in this order, without breaking callers or behaviour? Rate `quality` ' +
  '(0-10): does the plan fix the real problems the analysis found, idiomatically (OTP supervision, process design, ' +
  'Ecto, ETS), with tests to prove it? Give a short `reasoning`.';

export function refactoringJudgeSignature(): Signature {
  return new Signature({
    inputs: [
      { name: 'original_code', type: 'str', description: 'the code to refactor' },
      { name: 'refactoring_plan', type: 'str', description: 'the proposed plan (JSON)' },
      { name: 'analysis_context', type: 'str', description: 'the analysis the plan is based on' },
    ],
    outputs: [
      { name: 'feasibility', type: 'float', description: '0 to 10' },
      { name: 'quality', type: 'float', description: '0 to 10' },
      { name: 'reasoning', type: 'str', description: 'why these scores, briefly' },
    ],
    instructions: REFACTORING_JUDGE_INSTRUCTIONS,
  });
}

export interface RefactoringJudgeOptions extends JudgeOptions {
  codeField?: string;
  analysisStep?: string;
}

export interface RefactoringJudgement {
  feasibility: number;
  quality: number;
  reasoning: string;
  passed: boolean;
}

export class RefactoringEvaluator {
  readonly judge: Predict;
  readonly threshold: number;

  constructor(readonly options: RefactoringJudgeOptions = {}) {
    this.judge = new Predict(refactoringJudgeSignature());
    if (options.lm) this.judge.lm = options.lm;
    this.threshold = options.threshold ?? JUDGE_PASS_SCORE;
  }

  private analysisContext(example: Record<string, unknown>, prediction: Record<string, unknown>): unknown {
    if (example['analysis_context'] !== undefined) return example['analysis_context'];
    const steps = recordOf(recordOf(prediction['pipeline_result'])['steps']);
    const textOf = (s: unknown) => {
      const r = recordOf(s);
      return r['text'] ?? r['output'] ?? null;
    };
    if (this.options.analysisStep !== undefined) return textOf(steps[this.options.analysisStep]);
    return Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, textOf(v)]));
  }

  async judgeOne(example: unknown, prediction: unknown): Promise<RefactoringJudgement | undefined> {
    const ex = recordOf(example);
    const pred = recordOf(prediction);
    const out = await runJudge(
      this.judge,
      {
        original_code: asText(ex[this.options.codeField ?? 'code'] ?? ''),
        refactoring_plan: asText(predictedOutputOf(prediction)),
        analysis_context: asText(this.analysisContext(ex, pred)),
      },
      this.options.logger ?? pipelineLogger(),
    );
    if (out === undefined) return undefined;
    const feasibility = judgedScore(out, 'feasibility');
    const quality = judgedScore(out, 'quality');
    if (feasibility === undefined || quality === undefined) return undefined;
    return {
      feasibility,
      quality,
      reasoning: typeof out['reasoning'] === 'string' ? out['reasoning'] : '',
      passed: feasibility >= this.threshold && quality >= this.threshold,
    };
  }

  async evaluate(example: unknown, prediction: unknown): Promise<boolean | number> {
    const j = await this.judgeOne(example, prediction);
    if (this.options.mode === 'score') return j ? Math.min(j.feasibility, j.quality) / 10 : 0;
    return j?.passed ?? false;
  }

  /** The metric value: `evaluate`'s score with the judge's own reasoning as feedback. */
  async evaluateWithFeedback(example: unknown, prediction: unknown): Promise<MetricFeedback> {
    const j = await this.judgeOne(example, prediction);
    if (!j) return feedbackResult(prediction, 0, UNREADABLE_JUDGEMENT);
    const score = this.options.mode === 'score' ? Math.min(j.feasibility, j.quality) / 10 : j.passed ? 1 : 0;
    return feedbackResult(
      prediction,
      score,
      `The judge rated the plan's feasibility ${j.feasibility}/10 and quality ${j.quality}/10 (both must be at least ${this.threshold}): ${j.reasoning || '(no reasoning given)'}`,
    );
  }

  asMetric(): Metric {
    return (example, prediction) => this.evaluateWithFeedback(example, prediction);
  }
}
