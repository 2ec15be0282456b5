/**
 * Errors of the pipeline library. Each carries enough to act on: the path of the bad key,
 * the file that is corrupt, the name that was refused.
 */
import { ElexirionError } from '../errors.js';

/** `['workflow','steps',1,'prompt',0,'type']` -> `workflow.steps[1].prompt[0].type`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === '' ? '(root)' : out;
}

export interface ValidationIssue {
  /** Dotted path of the offending key, e.g. `workflow.steps[1].prompt[0].type`. */
  path: string;
  message: string;
}

/** A pipeline config that does not match the pipeline_ex format. */
export class PipelineValidationError extends ElexirionError {
  override readonly code: string = 'PIPELINE_VALIDATION_ERROR';
  override readonly name = 'PipelineValidationError';
  constructor(
    readonly issues: ValidationIssue[],
    readonly source?: string,
  ) {
    super(
      `invalid pipeline${source ? ` (${source})` : ''}: ` +
        issues.map((i) => `${i.path}: ${i.message}`).join('; '),
    );
  }
}

/** YAML text that cannot be loaded (syntax error, or a custom tag such as `!!js/function`). */
export class PipelineYamlError extends ElexirionError {
  override readonly code: string = 'PIPELINE_YAML_ERROR';
  override readonly name = 'PipelineYamlError';
  constructor(message: string, readonly source?: string) {
    super(`cannot load pipeline YAML${source ? ` (${source})` : ''}: ${message}`);
  }
}

/** An output name or path that would land outside the output directory. */
export class UnsafePathError extends ElexirionError {
  override readonly code: string = 'UNSAFE_PATH_ERROR';
  override readonly name = 'UnsafePathError';
}

/** A training-data file that cannot be read, parsed or validated. */
export interface BadExampleFile {
  file: string;
  /** zod path inside the file (`expected_output.findings`), or `(root)` for a parse error. */
  path: string;
  message: string;
}

export class TrainingDataError extends ElexirionError {
  override readonly code: string = 'TRAINING_DATA_ERROR';
  override readonly name = 'TrainingDataError';
  constructor(readonly problems: BadExampleFile[], readonly dir: string) {
    super(
      `invalid training data in ${dir}: ` +
        problems.map((p) => `${p.path === '(root)' ? p.file : p.path.startsWith(p.file) ? p.path : `${p.file} at ${p.path}`}: ${p.message}`).join('; '),
    );
  }
}
