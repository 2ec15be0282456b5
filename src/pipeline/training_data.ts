/**
 * Training data on disk, the seed's TrainingDataManager: one JSON file per example,
 * `{id, input, expected_output, metadata, created_at}`, named `ID.json`, in one directory.
 *
 * - Writes are atomic and exclusive: the file is written to a temp file, fsynced, then
 *   hard-linked to `ID.json` (which fails if that id exists: ids stay unique even with several
 *   writers) and the temp file removed. A writer killed at any instant leaves either no
 *   `ID.json` or a complete one, plus at most a temp file `.ID.json.<pid>.<rand>.tmp`.
 * - Reading never drops a file silently: `listExamples`/`loadExamples` throw a
 *   `TrainingDataError` naming every bad file (and the zod path of the bad key); `validate`
 *   returns the same report without throwing. Temp files are skipped, and those whose writer
 *   process is gone are removed.
 * - DSPy Examples (`toExample`): the `input` keys are the inputs; each `expected_output` key
 *   becomes a label field of its own (so signatures and metrics can address `findings`,
 *   `severity`, ... directly), and the whole object is also kept as the label
 *   `expected_output` (the seed's judges read it whole). An `input` key that clashes with an
 *   `expected_output` key, or is named `expected_output`, is an error.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Example } from '../dspy/index.js';
import { isTempFile, writeFileExclusive } from '../util/atomic_file.js';
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

/** The pid a temp file name carries (`.ID.json.<pid>.<rand>.tmp`), if any. */
function tempOwnerPid(name: string): number | undefined {
  const m = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
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

  /** Remove temp files left by writers that are no longer running; returns their names. */
  async cleanTempFiles(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const removed: string[] = [];
    for (const name of names) {
      if (!isTempFile(name)) continue;
      const pid = tempOwnerPid(name);
      if (pid !== undefined && processAlive(pid)) continue;
      await rm(join(this.dir, name), { force: true });
      removed.push(name);
    }
    return removed;
  }

  private async scan(): Promise<{ records: TrainingExampleRecord[]; problems: BadExampleFile[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return { records: [], problems: [] };
      throw err;
    }
    await this.cleanTempFiles();
    const records: TrainingExampleRecord[] = [];
    const problems: BadExampleFile[] = [];
    const ids = new Map<string, string>();
    for (const name of names.sort()) {
      if (isTempFile(name) || !name.endsWith('.json')) continue;
      let data: unknown;
      try {
        data = JSON.parse(await readFile(join(this.dir, name), 'utf8'));
      } catch (err) {
        problems.push({ file: name, path: '(root)', message: `not valid JSON: ${(err as Error).message}` });
        continue;
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
