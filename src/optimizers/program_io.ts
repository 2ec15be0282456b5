/**
 * Save and load a program's learned state in DSPy's JSON shape (`module.save(path)` with
 * `save_program=False`): one entry per named predictor path
 *
 *   { "demos": [...], "signature": { "instructions": "...", "fields": [{prefix, description}, ...] },
 *     "lm": null, "traces": [], "train": [] }
 *
 * plus `"metadata": {"dependency_versions": {"dspy": "3.3.1"}, "elexirion": {"version": V, "format": "1.0"}}`.
 * Fields are listed inputs first, then outputs, in signature order (as DSPy does). A file
 * DSPy wrote (no `format`) loads too.
 *
 * Why the metadata looks like that: DSPy's `Module.load` (dspy/primitives/base_module.py, 3.0-3.3)
 * looks up every key of `metadata.dependency_versions` in its own
 * `{python, dspy, cloudpickle}` and raises `KeyError` on any other key; a version that differs
 * only logs a warning. So that object holds only `dspy` (the DSPy version whose save format this
 * matches) and our own version and format live in `metadata.elexirion`, which DSPy never reads.
 * Files written before this change (`elexirion`/`format` inside `dependency_versions`) still load.
 *
 * Loading is all-or-nothing: the whole file is validated and every new demo list and signature
 * is built before the first predictor is touched, so a bad file leaves the module as it was.
 */
import { ElexirionError } from '../errors.js';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { Example, type Module, type Predict, type Signature } from '../dspy/index.js';
import { writeFileAtomic, type ConfinedWriteOptions } from '../util/atomic_file.js';

/** The version of our save format (major must match to load). Kept in `metadata.elexirion.format`. */
export const PROGRAM_FORMAT = '1.0';
/**
 * The DSPy release whose `save`/`load` JSON layout our files follow; written as
 * `metadata.dependency_versions.dspy` (DSPy warns, not fails, when its own version differs).
 */
export const DSPY_FORMAT_VERSION = '3.3.1';
const SUPPORTED_MAJOR = 1;

/** This package's version, as written into `metadata.elexirion.version`. */
export const ELEXIRION_VERSION: string = (() => {
  try {
    // src/optimizers/ and dist/optimizers/ are both two levels below package.json.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** A saved program that cannot be applied to the module (the module is left unchanged). */
export class ProgramLoadError extends ElexirionError {
  override readonly code: string = 'PROGRAM_LOAD_ERROR';
  override readonly name = 'ProgramLoadError';
}

const FieldStateSchema = z.object({ prefix: z.string(), description: z.string() });
const PredictorStateSchema = z.object({
  demos: z.array(z.record(z.string(), z.unknown())),
  signature: z.object({ instructions: z.string(), fields: z.array(FieldStateSchema) }),
  lm: z.unknown().optional(),
  traces: z.array(z.unknown()).optional(),
  train: z.array(z.unknown()).optional(),
});
const MetadataSchema = z
  .object({
    dependency_versions: z.record(z.string(), z.string()).optional(),
    elexirion: z.object({ version: z.string().optional(), format: z.string().optional() }).passthrough().optional(),
  })
  .passthrough();

export type PredictorState = z.infer<typeof PredictorStateSchema>;
export interface SavedProgram {
  [path: string]: PredictorState | SavedMetadata;
  metadata: SavedMetadata;
}
/** The `metadata` entry of a saved program. */
export interface SavedMetadata {
  /** Only keys DSPy's `load` knows (`python`, `dspy`, `cloudpickle`); we write `dspy`. */
  dependency_versions: Partial<Record<'python' | 'dspy' | 'cloudpickle', string>>;
  /** Ours; DSPy ignores it. Absent in files DSPy wrote. */
  elexirion?: { version: string; format: string };
}

function defaultDescription(name: string): string {
  return '${' + name + '}';
}


/** The plain JSON-able state of one predictor. */
export function dumpPredictor(p: Predict): PredictorState {
  return {
    traces: [],
    train: [],
    demos: p.demos.map((d) => toPlain(d)),
    signature: {
      instructions: p.signature.instructions,
      fields: p.signature.fields.map((f) => ({
        prefix: f.prefix,
        description: f.description ?? defaultDescription(f.name),
      })),
    },
    lm: null,
  };
}

function toPlain(d: unknown): Record<string, unknown> {
  const obj = d && typeof (d as { toDict?: unknown }).toDict === 'function' ? (d as Example).toDict() : (d as Record<string, unknown>);
  // A JSON round trip drops undefined and functions, so what we save is what we reload.
  return JSON.parse(JSON.stringify(obj)) as Record<string, unknown>;
}

/** The program's learned state, DSPy-shaped. Deterministic: same program, same JSON. */
export function saveProgram(module: Module): SavedProgram {
  const out: Record<string, unknown> = {};
  for (const [path, p] of module.namedPredictors({ includeCompiled: true })) out[path] = dumpPredictor(p);
  const metadata: SavedMetadata = {
    dependency_versions: { dspy: DSPY_FORMAT_VERSION },
    elexirion: { version: ELEXIRION_VERSION, format: PROGRAM_FORMAT },
  };
  out.metadata = metadata;
  return out as SavedProgram;
}

/** `saveProgram` as the text we write to disk (2-space JSON, trailing newline). */
export function programToJson(module: Module): string {
  return JSON.stringify(saveProgram(module), null, 2) + '\n';
}

/**
 * Applies a saved state to `module` (whose structure must match: same predictor paths, same
 * number of fields per signature). Throws ProgramLoadError and changes nothing on any problem.
 */
export function loadProgram<M extends Module>(module: M, json: unknown): M {
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new ProgramLoadError('saved program: expected a JSON object');
  }
  const data = json as Record<string, unknown>;
  const meta = MetadataSchema.safeParse(data.metadata ?? {});
  if (!meta.success) throw new ProgramLoadError(`saved program: invalid metadata: ${meta.error.issues[0]?.message ?? ''}`);
  // Ours first; before DSPy interop the format sat in dependency_versions (still read).
  const format = meta.data.elexirion?.format ?? meta.data.dependency_versions?.format;
  if (format !== undefined) {
    const major = Number.parseInt(format.split('.')[0] ?? '', 10);
    if (!Number.isInteger(major) || major !== SUPPORTED_MAJOR) {
      throw new ProgramLoadError(
        `saved program: format ${format} is not supported by elexirion ${ELEXIRION_VERSION} ` +
          `(it reads format ${SUPPORTED_MAJOR}.x); re-save the program with a matching version`,
      );
    }
  }
  const predictors = new Map(module.namedPredictors({ includeCompiled: true }));
  const paths = Object.keys(data).filter((k) => k !== 'metadata');
  const unknown = paths.filter((p) => !predictors.has(p));
  if (unknown.length > 0) {
    throw new ProgramLoadError(
      `saved program: unknown predictor path(s) ${unknown.map((p) => JSON.stringify(p)).join(', ')}; ` +
        `this program has ${[...predictors.keys()].map((p) => JSON.stringify(p)).join(', ') || 'no predictors'}`,
    );
  }
  const missing = [...predictors.keys()].filter((p) => !(p in data));
  if (missing.length > 0) {
    throw new ProgramLoadError(`saved program: no state for predictor path(s) ${missing.map((p) => JSON.stringify(p)).join(', ')}`);
  }
  // Build everything first ...
  const staged: Array<{ p: Predict; demos: Example[]; signature: Signature }> = [];
  for (const [path, p] of predictors) {
    const parsed = PredictorStateSchema.safeParse(data[path]);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ProgramLoadError(
        `saved program: predictor ${JSON.stringify(path)}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
      );
    }
    const st = parsed.data;
    let sig: Signature;
    try {
      // DSPy's load_state: instructions, then prefix/description per field by position.
      sig = p.signature.withState(st.signature);
    } catch (err) {
      throw new ProgramLoadError(`saved program: predictor ${JSON.stringify(path)}: ${(err as Error).message}`);
    }
    staged.push({ p, demos: st.demos.map((d) => new Example(d)), signature: sig });
  }
  // ... then apply, which cannot fail.
  for (const s of staged) {
    s.p.demos = s.demos;
    s.p.signature = s.signature;
  }
  return module;
}

export async function saveProgramToFile(module: Module, path: string, opts: ConfinedWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, programToJson(module), opts);
}

export async function loadProgramFromFile<M extends Module>(module: M, path: string): Promise<M> {
  const text = await readFile(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ProgramLoadError(`${path}: not valid JSON (${(err as Error).message}); the program was not changed`);
  }
  try {
    return loadProgram(module, json);
  } catch (err) {
    if (err instanceof ProgramLoadError) throw new ProgramLoadError(`${path}: ${err.message}`);
    throw err;
  }
}
