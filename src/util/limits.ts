/**
 * Limits on every input the sidecar reads, in one place. Each one is set by an environment
 * variable (the one mechanism for all of them: the Elixir side passes `env:` to the Port, a
 * shell exports it), read when first needed; an unset or empty variable means the default.
 * protocol/PROTOCOL.md ("Limits") and the README document the same table.
 */
import { ElexirionError } from '../errors.js';
import * as z from 'zod';

export interface LimitSpec {
  env: string;
  default: number;
  what: string;
}

export const LIMIT_SPECS = {
  maxFrameBytes: { env: 'ELEXIRION_MAX_FRAME_BYTES', default: 64 * 1024 * 1024, what: 'one inbound JSON-RPC frame (also --max-frame-bytes)' },
  maxYamlBytes: { env: 'ELEXIRION_MAX_YAML_BYTES', default: 4 * 1024 * 1024, what: 'a pipeline YAML/JSON file' },
  maxYamlExpandedBytes: {
    env: 'ELEXIRION_MAX_YAML_EXPANDED_BYTES',
    default: 16 * 1024 * 1024,
    what: 'a loaded pipeline with every alias expanded, measured as JSON text',
  },
  maxTrainingFileBytes: { env: 'ELEXIRION_MAX_TRAINING_FILE_BYTES', default: 8 * 1024 * 1024, what: 'one training example file' },
  maxTrainingDirBytes: { env: 'ELEXIRION_MAX_TRAINING_DIR_BYTES', default: 256 * 1024 * 1024, what: 'all example files of a training directory together' },
  maxExamples: { env: 'ELEXIRION_MAX_EXAMPLES', default: 100_000, what: 'examples in one training set (directory or inline)' },
  maxResultBytes: { env: 'ELEXIRION_MAX_RESULT_BYTES', default: 16 * 1024 * 1024, what: 'one reply from Elixir (a pipeline/execute result)' },
  maxStdoutBufferBytes: {
    env: 'ELEXIRION_MAX_STDOUT_BUFFER_BYTES',
    default: 4 * 1024 * 1024,
    what: 'replies queued for a peer that is not reading; past it, stdin is not read until stdout drains',
  },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMIT_SPECS;
export type Limits = Record<LimitName, number>;

/** An environment variable that is set but is not a positive integer. */
export class LimitConfigError extends ElexirionError {
  override readonly code: string = 'LIMIT_CONFIG_ERROR';
  override readonly name = 'LimitConfigError';
}

const Positive = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** The limits in effect for `env` (default `process.env`); throws naming a bad variable. */
export function readLimits(env: NodeJS.ProcessEnv = process.env): Limits {
  const out = {} as Limits;
  for (const [name, spec] of Object.entries(LIMIT_SPECS) as Array<[LimitName, LimitSpec]>) {
    const raw = env[spec.env];
    if (raw === undefined || raw.trim() === '') {
      out[name] = spec.default;
      continue;
    }
    const parsed = Positive.safeParse(raw.trim());
    if (!parsed.success) throw new LimitConfigError(`${spec.env} must be a positive integer (got ${JSON.stringify(raw)})`);
    out[name] = parsed.data;
  }
  return out;
}

let cached: { snapshot: string; limits: Limits } | undefined;

/** `readLimits(process.env)`, re-read only when one of the variables changed. */
export function limits(): Limits {
  const snapshot = Object.values(LIMIT_SPECS)
    .map((s) => process.env[s.env] ?? '')
    .join('\u0000');
  if (!cached || cached.snapshot !== snapshot) cached = { snapshot, limits: readLimits(process.env) };
  return cached.limits;
}

/**
 * An input over one of the limits, or a file the sidecar refuses to read (not a regular file,
 * not UTF-8). Answered with -32012; `data` names the path and, for a limit, which variable
 * raises it.
 */
export class InputRefusedError extends ElexirionError {
  override readonly code: string = 'INPUT_REFUSED_ERROR';
  override readonly name = 'InputRefusedError';
  constructor(
    message: string,
    readonly data: { path?: string; limit?: string; max?: number; actual?: number; offset?: number; kind?: string },
  ) {
    super(message);
  }
}

/** Throws `InputRefusedError` when `actual` exceeds the named limit. */
export function checkLimit(name: LimitName, actual: number, subject: string, path?: string): void {
  const max = limits()[name];
  if (actual <= max) return;
  const spec = LIMIT_SPECS[name];
  const unit = name === 'maxExamples' ? 'examples' : 'bytes';
  throw new InputRefusedError(`${subject} is over its limit: ${actual} > ${max} ${unit} (raise ${spec.env} to allow more)`, {
    ...(path !== undefined ? { path } : {}),
    limit: spec.env,
    max,
    actual,
  });
}
