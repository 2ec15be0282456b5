/**
 * Metrics by name, so the wire can choose one: `getMetric(name, options, deps)`.
 *
 * | name                  | options                                                        | score |
 * |-----------------------|----------------------------------------------------------------|---------|
 * | `exact_match`         | `fields?: string[]`, `normalize?: bool`, `partial?: bool`      | 1 / 0 (fraction with `partial`) |
 * | `findings_f1`         | `field?` (`findings`), `similarity?` (0.5), `passAt?`          | F1 in [0,1] (1 / 0 with `passAt`) |
 * | `valid_json`          | `field?`, `requireObject?` (true), `requiredKeys?`             | 1 / 0 |
 * | `code_analysis_judge` | `threshold?` (7), `mode?` (`pass`/`score`), `lm?` (spec)       | 1 / 0 (score/10 in score mode) |
 * | `refactoring_judge`   | same + `codeField?` (`code`), `analysisStep?`                  | 1 / 0 (min/10 in score mode) |
 * | `composite`           | `metrics: [{name, options?, threshold?}]` (nested allowed)     | 1 / 0: all pass |
 *
 * Every metric returns `{score, feedback, byPredictor?}` (feedback.ts): optimizers read the
 * score, GEPA reflects on the feedback.
 *
 * Options are validated (unknown keys refused, errors name the path); an unknown name lists the
 * known ones. Judges need an LM: `deps.resolveLM(spec)` builds it from an `lm` option, else
 * `deps.lm`, else the predictor falls back to `settings.lm`.
 */
import { ElexirionError } from '../../errors.js';
import * as z from 'zod';
import type { Metric } from '../../dspy/index.js';
import type { LM } from '../../lm/types.js';
import { formatPath } from '../errors.js';
import type { Logger } from '../log.js';
import { CodeAnalysisEvaluator } from './code_analysis_evaluator.js';
import { compositeMetric, type CompositeMember } from './composite.js';
import { exactMatch } from './exact_match.js';
import { findingsF1 } from './findings_f1.js';
import { RefactoringEvaluator } from './refactoring_evaluator.js';
import { validJson } from './valid_json.js';

export interface MetricDeps {
  /** LM for judges when the options name none. */
  lm?: LM;
  /** Build an LM from a spec string given as the `lm` option. */
  resolveLM?: (spec: string) => LM;
  logger?: Logger;
}

export class MetricConfigError extends ElexirionError {
  override readonly code: string = 'METRIC_CONFIG_ERROR';
  override readonly name = 'MetricConfigError';
}

const judgeBase = {
  threshold: z.number().min(0).max(10).optional(),
  mode: z.enum(['pass', 'score']).optional(),
  lm: z.string().min(1).optional(),
};

interface MemberSpec {
  name: string;
  options?: Record<string, unknown>;
  threshold?: number;
}

const MemberSpecSchema: z.ZodType<MemberSpec> = z.strictObject({
  name: z.string(),
  options: z.record(z.string(), z.unknown()).optional(),
  threshold: z.number().optional(),
});

const OPTION_SCHEMAS = {
  exact_match: z.strictObject({
    fields: z.array(z.string().min(1)).min(1).optional(),
    normalize: z.boolean().optional(),
    partial: z.boolean().optional(),
  }),
  findings_f1: z.strictObject({
    field: z.string().min(1).optional(),
    similarity: z.number().gt(0).max(1).optional(),
    passAt: z.number().min(0).max(1).optional(),
  }),
  valid_json: z.strictObject({
    field: z.string().min(1).optional(),
    requireObject: z.boolean().optional(),
    requiredKeys: z.array(z.string()).optional(),
  }),
  code_analysis_judge: z.strictObject(judgeBase),
  refactoring_judge: z.strictObject({ ...judgeBase, codeField: z.string().min(1).optional(), analysisStep: z.string().min(1).optional() }),
  composite: z.strictObject({ metrics: z.array(MemberSpecSchema).min(1) }),
} as const;

export type MetricName = keyof typeof OPTION_SCHEMAS;
export const METRIC_NAMES = Object.keys(OPTION_SCHEMAS) as MetricName[];

function parseOptions<N extends MetricName>(name: N, options: unknown): z.infer<(typeof OPTION_SCHEMAS)[N]> {
  const r = (OPTION_SCHEMAS[name] as z.ZodType).safeParse(options ?? {});
  if (!r.success) {
    throw new MetricConfigError(
      `invalid options for metric ${name}: ` + r.error.issues.map((i) => `${formatPath(['options', ...i.path])}: ${i.message}`).join('; '),
    );
  }
  return r.data as z.infer<(typeof OPTION_SCHEMAS)[N]>;
}

function judgeLM(spec: string | undefined, deps: MetricDeps): LM | undefined {
  if (spec === undefined) return deps.lm;
  if (!deps.resolveLM) throw new MetricConfigError(`metric option lm="${spec}" given but no LM resolver is available`);
  return deps.resolveLM(spec);
}

/** Strip undefined so exactOptionalPropertyTypes-style option objects stay clean. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function getMetric(name: string, options: unknown = {}, deps: MetricDeps = {}): Metric {
  if (!(METRIC_NAMES as string[]).includes(name)) {
    throw new MetricConfigError(`unknown metric "${name}"; known metrics: ${METRIC_NAMES.join(', ')}`);
  }
  switch (name as MetricName) {
    case 'exact_match':
      return exactMatch(defined(parseOptions('exact_match', options)));
    case 'findings_f1':
      return findingsF1(defined(parseOptions('findings_f1', options)));
    case 'valid_json':
      return validJson(defined(parseOptions('valid_json', options)));
    case 'code_analysis_judge': {
      const o = parseOptions('code_analysis_judge', options);
      const lm = judgeLM(o.lm, deps);
      return new CodeAnalysisEvaluator(defined({ threshold: o.threshold, mode: o.mode, lm, logger: deps.logger })).asMetric();
    }
    case 'refactoring_judge': {
      const o = parseOptions('refactoring_judge', options);
      const lm = judgeLM(o.lm, deps);
      return new RefactoringEvaluator(
        defined({ threshold: o.threshold, mode: o.mode, lm, logger: deps.logger, codeField: o.codeField, analysisStep: o.analysisStep }),
      ).asMetric();
    }
    case 'composite': {
      const o = parseOptions('composite', options);
      const members: CompositeMember[] = o.metrics.map((m, i) => {
        let metric: Metric;
        try {
          metric = getMetric(m.name, m.options ?? {}, deps);
        } catch (err) {
          if (err instanceof MetricConfigError) throw new MetricConfigError(`options.metrics[${i}]: ${err.message}`);
          throw err;
        }
        return defined({ name: m.name, metric, threshold: m.threshold });
      });
      return compositeMetric(members, defined({ logger: deps.logger }));
    }
  }
}
