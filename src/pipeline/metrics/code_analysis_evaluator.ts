/**
 * The seed's CodeAnalysisEvaluator: an LLM judge compares the pipeline's analysis with the
 * expected one and gives `score` (0-10) and `reasoning`; the analysis passes at 7.0.
 *
 * Typed signature: `analysis_output: str, expected_output: str -> score: float, reasoning: str`.
 * `analysis_output` is the prediction's output fields as JSON (the parsed final step), or the
 * raw `pipeline_result.output` when the prediction has no other fields. Unparseable judge
 * output, or a score that is not a number in [0, 10], fails closed (false / 0).
 * As a metric (`asMetric`) it returns `{score, feedback}`: the feedback is the judge's score and
 * its own reasoning.
 */
import { Predict, Signature, type Metric, type MetricFeedback } from '../../dspy/index.js';
import { feedbackResult } from './feedback.js';
import { pipelineLogger } from '../log.js';
import { expectedOutputOf, predictedOutputOf, recordOf } from './fields.js';
import { asText, JUDGE_PASS_SCORE, judgedScore, runJudge, UNREADABLE_JUDGEMENT, type JudgeOptions } from './judge.js';

export const CODE_ANALYSIS_JUDGE_INSTRUCTIONS =
  'You are a senior Elixir/OTP reviewer grading a code analysis. Compare the analysis with the expected analysis: ' +
  'does it find the same problems (supervision, process design, concurrency, performance, correctness), are its ' +
  'recommendations sound and actionable, is the severity right? Extra correct findings are fine; wrong or missing ' +
  'important findings lower the score. Give `score` from 0 (useless) to 10 (as good as or better than expected) and ' +
  'a short `reasoning`.';

export function codeAnalysisJudgeSignature(): Signature {
  return new Signature({
    inputs: [
      { name: 'analysis_output', type: 'str', description: 'the analysis produced by the pipeline (JSON)' },
      { name: 'expected_output', type: 'str', description: 'the reference analysis (JSON)' },
    ],
    outputs: [
      { name: 'score', type: 'float', description: 'quality from 0 to 10' },
      { name: 'reasoning', type: 'str', description: 'why this score, briefly' },
    ],
    instructions: CODE_ANALYSIS_JUDGE_INSTRUCTIONS,
  });
}

export interface CodeAnalysisJudgement {
  score: number;
  reasoning: string;
  passed: boolean;
}

export class CodeAnalysisEvaluator {
  readonly judge: Predict;
  readonly threshold: number;

  constructor(readonly options: JudgeOptions = {}) {
    this.judge = new Predict(codeAnalysisJudgeSignature());
    if (options.lm) this.judge.lm = options.lm;
    this.threshold = options.threshold ?? JUDGE_PASS_SCORE;
  }

  /** The judgement, or undefined when the judge's output cannot be read (fail closed). */
  async judgeOne(example: unknown, prediction: unknown): Promise<CodeAnalysisJudgement | undefined> {
    const predicted = predictedOutputOf(prediction);
    const analysis = Object.keys(predicted).length > 0 ? predicted : recordOf(recordOf(prediction)['pipeline_result'])['output'];
    const out = await runJudge(
      this.judge,
      { analysis_output: asText(analysis), expected_output: asText(expectedOutputOf(example)) },
      this.options.logger ?? pipelineLogger(),
    );
    if (out === undefined) return undefined;
    const score = judgedScore(out, 'score');
    if (score === undefined) return undefined;
    return { score, reasoning: typeof out['reasoning'] === 'string' ? out['reasoning'] : '', passed: score >= this.threshold };
  }

  async evaluate(example: unknown, prediction: unknown): Promise<boolean | number> {
    const j = await this.judgeOne(example, prediction);
    if (this.options.mode === 'score') return j ? j.score / 10 : 0;
    return j?.passed ?? false;
  }

  /** The metric value: `evaluate`'s score with the judge's own reasoning as feedback. */
  async evaluateWithFeedback(example: unknown, prediction: unknown): Promise<MetricFeedback> {
    const j = await this.judgeOne(example, prediction);
    if (!j) return feedbackResult(prediction, 0, UNREADABLE_JUDGEMENT);
    const score = this.options.mode === 'score' ? j.score / 10 : j.passed ? 1 : 0;
    return feedbackResult(prediction, score, `The judge scored the analysis ${j.score}/10 (pass at ${this.threshold}): ${j.reasoning || '(no reasoning given)'}`);
  }

  asMetric(): Metric {
    return (example, prediction) => this.evaluateWithFeedback(example, prediction);
  }
}
