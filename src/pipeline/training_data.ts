/**
 * Training data on disk, the seed's TrainingDataManager: one JSON file per example,
 * `{id, input, expected_output, metadata, created_at}`, named `ID.json`, in one directory.
 *
 * - Writes are atomic and exclusive: the file is written to a temp file, fsynced, then
 *   hard-linked to `ID.json` (which fails if that id exists: ids stay unique even with several
 *   writers) and the temp file removed. A writer killed at any instant leaves either no
 *   `ID.json` or a complete one, plus at most a temp file `.ID.json.<pid>.<rand>.tmp`.
 * - Reading never drops a file silently: `listExamples`/`loadExamples` throw a
 *   `TrainingDataError` naming every bad file (and the zod path of the bad key, or the byte
 *   offset of bad UTF-8); `validate` returns the same report without throwing.
 * - Reading is read-only: it never deletes, renames or creates anything in the folder. Temp
 *   files of our own writers (`isTempFile`: `.NAME.<pid>.<hex>.tmp`) are skipped, and only the
 *   process that wrote one removes it (writeFileExclusive does, success or not). A folder
 *   entry that is not a regular file (FIFO, device, directory named `x.json`) is reported, not
 *   opened; sizes and the example count are bounded (src/util/limits.ts).
 * - DSPy Examples (`toExample`): the `input` keys are the inputs; each `expected_output` key
 *   becomes a label field of its own (so signatures and metrics can address `findings`,
 *   `severity`, ... directly), and the whole object is also kept as the label
 *   `expected_output` (the seed's judges read it whole). An `input` key that clashes with an
 *   `expected_output` key, or is named `expected_output`, is an error.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { Example } from '../dspy/index.js';
import { isTempFile, writeFileExclusive } from '../util/atomic_file.js';
import { checkLimit, InputRefusedError } from '../util/limits.js';
import { decodeUtf8, readInputBytes, statInput } from '../util/safe_read.js';
import { formatPath, TrainingDataError, type BadExampleFile } from './errors.js';

/** The seed's bar for turning a successful execution into a training example. */
export const QUALITY_THRESHOLD = 8.0;

export const EXAMPLE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export const TrainingExampleSchema = z.looseObject({
  id: z.string().regex(EXAMPLE_ID_PATTERN, 'must be 1-64 letters, digits, "_" or "-", not starting with "_" or "-"'),
  input: z.record(z.string(), z.unknown()),
  expected_output: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.unknown()).default({}),
  created_at: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 timestamp'),
});
export type TrainingExampleRecord = z.infer<typeof TrainingExampleSchema>;

export interface ValidationReport {
  ok: boolean;
  /** Number of valid example files. */
  valid: number;
  problems: BadExampleFile[];
}

export interface CreateExampleOptions {
  /** Caller-chosen id; refused if that example exists. Default: 8 random hex digits. */
  id?: string;
  createdAt?: Date;
}

/** Parse one example record (from a file or inline on the wire); throws with zod paths. */
export function parseExampleRecord(data: unknown, label = 'example'): TrainingExampleRecord {
  const r = TrainingExampleSchema.safeParse(data);
  if (!r.success) {
    throw new TrainingDataError(
      r.error.issues.map((i) => ({ file: label, path: formatPath(i.path), message: i.message })),
      label,
    );
  }
  const clash = Object.keys(r.data.input).find((k) => k === 'expected_output' || k in r.data.expected_output);
  if (clash !== undefined) {
    throw new TrainingDataError(
      [{ file: label, path: `input.${clash}`, message: `input key "${clash}" clashes with an expected_output field` }],
      label,
    );
  }
  return r.data;
}

/** The DSPy Example of a record (see the module comment for the field layout). */
export function toExample(record: TrainingExampleRecord): Example {
  const data: Record<string, unknown> = {
    ...record.input,
    ...record.expected_output,
    expected_output: record.expected_output,
  };
  return new Example(data).withInputs(...Object.keys(record.input));
}

/** An example given inline (e.g. on the wire): `id`, `metadata` and `created_at` optional. */
export const InlineExampleSchema = z.looseObject({
  id: z.union([z.string(), z.number()]).optional(),
  input: z.record(z.string(), z.unknown()),
  expected_output: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.unknown()).optional(),
  created_at: z.string().optional(),
});
export type InlineExample = z.infer<typeof InlineExampleSchema>;

/** `examples` + `[3].input` -> `examples[3].input` (the label may itself contain dots). */
function labelledPath(label: string, path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return label;
  const rest = formatPath(path);
  return typeof path[0] === 'number' ? `${label}${rest}` : `${label}.${rest}`;
}

/**
 * DSPy Examples from inline records, in the given order. Every bad item is reported at once,
 * by its index (`examples[3].input`).
 */
export function examplesFromInline(items: unknown, label = 'examples'): Example[] {
  if (Array.isArray(items)) checkLimit('maxExamples', items.length, label);
  const list = z.array(InlineExampleSchema).safeParse(items);
  if (!list.success) {
    throw new TrainingDataError(
      list.error.issues.map((i) => ({ file: label, path: labelledPath(label, i.path), message: i.message })),
      label,
    );
  }
  const problems: BadExampleFile[] = [];
  const out: Example[] = [];
  list.data.forEach((item, i) => {
    const clash = Object.keys(item.input).find((k) => k === 'expected_output' || k in item.expected_output);
    if (clash !== undefined) {
      problems.push({ file: label, path: labelledPath(label, [i, 'input', clash]), message: `input key "${clash}" clashes with an expected_output field` });
      return;
    }
    out.push(
      toExample({ id: String(item.id ?? `inline-${i}`), input: item.input, expected_output: item.expected_output, metadata: item.metadata ?? {}, created_at: item.created_at ?? '' }),
    );
  });
  if (problems.length > 0) throw new TrainingDataError(problems, label);
  return out;
}

/** Oldest first, then by id: a stable order whatever the directory listing order. */
function byCreation(a: TrainingExampleRecord, b: TrainingExampleRecord): number {
  const d = Date.parse(a.created_at) - Date.parse(b.created_at);
  return d !== 0 ? d : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

export class TrainingDataManager {
  constructor(readonly dir: string) {}

  /** Create an example; returns its id. Atomic; never overwrites an existing example. */
  async createExample(
    input: Record<string, unknown>,
    expectedOutput: Record<string, unknown>,
    metadata: Record<string, unknown> = {},
    options: CreateExampleOptions = {},
  ): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    for (let attempt = 0; ; attempt++) {
      const id = options.id ?? randomBytes(4).toString('hex');
      const record = parseExampleRecord(
        {
          id,
          input,
          expected_output: expectedOutput,
          metadata,
          created_at: (options.createdAt ?? new Date()).toISOString(),
        },
        `${id}.json`,
      );
      try {
        await writeFileExclusive(join(this.dir, `${id}.json`), `${JSON.stringify(record, null, 2)}\n`);
        return id;
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
        if (options.id !== undefined) throw new Error(`training example "${id}" already exists in ${this.dir}`);
        if (attempt >= 8) throw new Error(`could not find a free example id in ${this.dir}`);
      }
    }
  }

  /**
   * The seed's rule: keep an execution as an example only when its quality score is at least
   * `threshold` (8.0). `result` is a `pipeline/execute` result (its `output` becomes the
   * expected output; a JSON string is decoded, other non-objects become `{response: value}`)
   * or a plain expected-output object. Returns the new id, or undefined when not kept.
   */
  async createFromSuccessfulExecution(
    pipelineConfig: unknown,
    input: Record<string, unknown>,
    result: unknown,
    qualityScore: number,
    options: { threshold?: number } = {},
  ): Promise<string | undefined> {
    const threshold = options.threshold ?? QUALITY_THRESHOLD;
    if (!Number.isFinite(qualityScore) || qualityScore < threshold) return undefined;
    const r = result as { status?: unknown; steps?: unknown; output?: unknown } | null;
    const isExecuteResult = r !== null && typeof r === 'object' && 'status' in r && 'steps' in r;
    if (isExecuteResult && r.status !== 'ok') return undefined;
    const expected = toExpectedOutput(isExecuteResult ? r.output : result);
    return this.createExample(input, expected, {
      pipeline_config: pipelineConfig,
      quality_score: qualityScore,
      source: 'successful_execution',
    });
  }

  /** Every example, oldest first. Throws `TrainingDataError` naming every bad file. */
  async listExamples(): Promise<TrainingExampleRecord[]> {
    const { records, problems } = await this.scan();
    if (problems.length > 0) throw new TrainingDataError(problems, this.dir);
    return records;
  }

  /** Every example as a DSPy Example, oldest first. Throws like `listExamples`. */
  async loadExamples(): Promise<Example[]> {
    return (await this.listExamples()).map(toExample);
  }

  /** The same checks as `listExamples`, reported instead of thrown. */
  async validate(): Promise<ValidationReport> {
    const { records, problems } = await this.scan();
    return { ok: problems.length === 0, valid: records.length, problems };
  }

  private async scan(): Promise<{ records: TrainingExampleRecord[]; problems: BadExampleFile[] }> {
    let names: string[];
    try {
      const st = await statInput(this.dir, 'training data folder');
      if (!st.isDirectory()) {
        throw new InputRefusedError(`training data folder ${this.dir} is not a directory: refused`, { path: this.dir, kind: 'not-a-directory' });
      }
      names = await readdir(this.dir);
    } catch (err) {
      // A folder not created yet holds no examples (the first run of a new pipeline).
      if (err instanceof InputRefusedError && err.data.kind === 'missing') return { records: [], problems: [] };
      throw err;
    }
    const files = names.filter((name) => !isTempFile(name) && name.endsWith('.json')).sort();
    checkLimit('maxExamples', files.length, `training data folder ${this.dir}`, this.dir);
    const records: TrainingExampleRecord[] = [];
    const problems: BadExampleFile[] = [];
    const ids = new Map<string, string>();
    let totalBytes = 0;
    for (const name of files) {
      const path = join(this.dir, name);
      let data: unknown;
      try {
        const bytes = await readInputBytes(path, { limit: 'maxTrainingFileBytes', subject: 'training example file' });
        totalBytes += bytes.length;
        checkLimit('maxTrainingDirBytes', totalBytes, `training data folder ${this.dir}`, this.dir);
        data = JSON.parse(decodeUtf8(bytes, path, 'training example file'));
      } catch (err) {
        if (err instanceof InputRefusedError) {
          if (err.data.limit === 'ELEXIRION_MAX_TRAINING_DIR_BYTES') throw err;
          problems.push({ file: name, path: '(root)', message: err.message });
          continue;
        }
        if (err instanceof SyntaxError) {
          problems.push({ file: name, path: '(root)', message: `not valid JSON: ${err.message}` });
          continue;
        }
        throw err;
      }
      try {
        const record = parseExampleRecord(data, name);
        const other = ids.get(record.id);
        if (other !== undefined) {
          problems.push({ file: name, path: 'id', message: `duplicate id "${record.id}" (also in ${other})` });
          continue;
        }
        ids.set(record.id, name);
        records.push(record);
      } catch (err) {
        if (err instanceof TrainingDataError) problems.push(...err.problems);
        else throw err;
      }
    }
    records.sort(byCreation);
    return { records, problems };
  }
}

function toExpectedOutput(value: unknown): Record<string, unknown> {
  if (typeof value === 'string') {
    try {
      const parsed: unknown = JSON.parse(value);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // not JSON: keep the text
    }
    return { response: value };
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  return { response: value };
}
