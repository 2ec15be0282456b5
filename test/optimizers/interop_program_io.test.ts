/**
 * Programs move between Python DSPy 3.x and here, both ways (issue #15, item 5).
 *
 * Python is not needed: `dspyLoad` below walks a saved file exactly as DSPy's JSON load path
 * does (stanfordnlp/dspy, tag 3.3.1; the same statements are in 3.0.0-3.2.1), raising what
 * Python would raise. If `python3` can import dspy, the last test also loads the file there.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChainOfThought, Example, Module, Predict, type Prediction } from '../../src/dspy/index.js';
import { DSPY_FORMAT_VERSION, ELEXIRION_VERSION, loadProgram, loadProgramFromFile, programToJson, ProgramLoadError, saveProgram } from '../../src/optimizers/index.js';

const FIXTURES = new URL('./fixtures/dspy_interop/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

/** A Python exception DSPy's load would raise. */
class PyError extends Error {
  constructor(
    readonly pyType: 'KeyError' | 'TypeError' | 'AttributeError' | 'NotImplementedError',
    detail: string,
  ) {
    super(`${pyType}: ${detail}`);
  }
}

type Py = unknown;
const isDict = (v: Py): v is Record<string, Py> => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Python's `d[key]` on a JSON value. */
function getitem(d: Py, key: string): Py {
  if (!isDict(d)) throw new PyError('TypeError', `${JSON.stringify(d)} is not subscriptable by ${JSON.stringify(key)}`);
  if (!(key in d)) throw new PyError('KeyError', `'${key}'`);
  return d[key];
}

/** What the Python program's `named_parameters()` yields: predictor path -> its signature's field names (inputs, then outputs). */
type PythonProgram = Record<string, string[]>;
interface LoadedPredictor {
  instructions: Py;
  fields: Array<{ name: string; prefix: Py; desc: Py }>;
  demos: Py;
  lm: Py;
}

/**
 * DSPy 3.3.1's `Module.load(path)` for a `.json` path, statement by statement. A fresh Python
 * environment's `get_dependency_versions()` stands in for the real one.
 */
function dspyLoad(text: string, program: PythonProgram): { predictors: Record<string, LoadedPredictor>; warnings: string[] } {
  // base_module.py:268-270  `state = orjson.loads(f.read())` (strict JSON, as JSON.parse)
  const state = JSON.parse(text) as Py;
  // base_module.py:281  `dependency_versions = get_dependency_versions()`
  //   utils/saving.py:15-25 returns exactly these three keys.
  const dependencyVersions: Record<string, string> = { python: '3.12', dspy: '3.3.1', cloudpickle: '3.1' };
  // base_module.py:282  `saved_dependency_versions = state["metadata"]["dependency_versions"]`
  const saved = getitem(getitem(state, 'metadata'), 'dependency_versions');
  // base_module.py:283  `for key, saved_version in saved_dependency_versions.items():`
  if (!isDict(saved)) throw new PyError('AttributeError', `${JSON.stringify(saved)} has no attribute 'items'`);
  const warnings: string[] = [];
  for (const [key, savedVersion] of Object.entries(saved)) {
    // base_module.py:284  `if dependency_versions[key] != saved_version:` (KeyError on any other key)
    if (!(key in dependencyVersions)) throw new PyError('KeyError', `'${key}'`);
    // base_module.py:285-291  a different version only logs a warning
    if (dependencyVersions[key] !== savedVersion) warnings.push(`mismatch of ${key} version`);
  }
  // base_module.py:292 -> load_state, 159-170: for name, param in named_parameters(): param.load_state(state[name])
  const predictors: Record<string, LoadedPredictor> = {};
  for (const [name, fieldNames] of Object.entries(program)) {
    const pstate = getitem(state, name);
    // predict.py:103-107  every key but signature / extended_signature / lm is setattr'd as is
    if (!isDict(pstate)) throw new PyError('AttributeError', `${JSON.stringify(pstate)} has no attribute 'items'`);
    const attrs: Record<string, Py> = { demos: [] };
    for (const [k, v] of Object.entries(pstate)) if (!['signature', 'extended_signature', 'lm'].includes(k)) attrs[k] = v;
    // predict.py:109 -> signature.py:537-545
    const sigState = getitem(pstate, 'signature');
    const instructions = getitem(sigState, 'instructions');
    const savedFields = getitem(sigState, 'fields');
    if (!Array.isArray(savedFields)) throw new PyError('TypeError', 'fields is not iterable as a list of dicts');
    const fields = fieldNames.map((n) => ({ name: n, prefix: `default ${n}` as Py, desc: `default ${n}` as Py }));
    // zip(..., strict=False): the shorter side wins, the rest keep their defaults
    for (let i = 0; i < Math.min(fields.length, savedFields.length); i++) {
      fields[i]!.prefix = getitem(savedFields[i], 'prefix');
      fields[i]!.desc = getitem(savedFields[i], 'description');
    }
    // predict.py:110-115  `state["lm"]` must be present; a falsy one leaves lm None
    const lm = getitem(pstate, 'lm');
    // predict.py:117-118
    if ('extended_signature' in pstate) throw new PyError('NotImplementedError', 'Loading extended_signature is no longer supported in DSPy 2.6+');
    predictors[name] = { instructions, fields, demos: attrs.demos, lm };
  }
  return { predictors, warnings };
}

/** What DSPy needs from a loaded predictor to run it: string texts and demos that are dicts (adapters/base.py:558-564 does `k in demo`, `demo[k]`). */
function expectUsable(p: LoadedPredictor, fieldCount: number): void {
  expect(typeof p.instructions).toBe('string');
  for (const f of p.fields) {
    expect(typeof f.prefix, `${f.name} prefix`).toBe('string');
    expect(typeof f.desc, `${f.name} description`).toBe('string');
  }
  expect(p.fields.filter((f) => !String(f.prefix).startsWith('default '))).toHaveLength(fieldCount);
  expect(Array.isArray(p.demos)).toBe(true);
  for (const d of p.demos as Py[]) expect(isDict(d)).toBe(true);
  expect(p.lm).toBeNull();
}

/** The program both golden files are for. In Python:
 *    class QA(dspy.Module):
 *        def __init__(self):
 *            super().__init__()
 *            self.retrieve = dspy.Predict("question -> query")
 *            self.answer = dspy.ChainOfThought("question, context: list[str] -> answer")
 */
class RetrieveAnswer extends Module {
  retrieve = new Predict('question -> query');
  answer = new ChainOfThought('question, context: list[str] -> answer');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.answer.call(inputs);
  }
}
const PYTHON_QA: PythonProgram = { retrieve: ['question', 'query'], 'answer.predict': ['question', 'context', 'reasoning', 'answer'] };

/** A compiled program as an optimizer leaves it: demos (bootstrapped and labeled), new instructions, a retitled field. */
function compiledHere(): RetrieveAnswer {
  const p = new RetrieveAnswer();
  p.retrieve.demos = [new Example({ question: 'Which planet is largest?', query: 'largest planet' })];
  p.retrieve.signature = p.retrieve.signature.withUpdatedField('query', { prefix: 'Search Query:', description: 'keywords' });
  p.answer.predict.demos = [
    new Example({ augmented: true, question: 'What is 2 + 2?', context: ['Arithmetic.'], reasoning: 'Two and two.', answer: '4' }),
    new Example({ question: 'Who wrote Hamlet?', context: [], answer: 'Shakespeare' }),
  ];
  p.answer.predict.signature = p.answer.predict.signature.withInstructions('Answer from the context; quote it.');
  return p;
}

/** The golden file with this build's package version (the only part that changes per release). */
function goldenWrittenHere(): string {
  const json = JSON.parse(fixture('saved_by_elexirion.json')) as { metadata: { elexirion: { version: string } } };
  json.metadata.elexirion.version = ELEXIRION_VERSION;
  return JSON.stringify(json, null, 2) + '\n';
}

describe('a program saved here loads in Python DSPy 3.x', () => {
  it('is written exactly as the golden file (any change to the saved layout shows here)', () => {
    expect(programToJson(compiledHere())).toBe(goldenWrittenHere());
  });

  it("DSPy's load path accepts the golden file and ends with the same instructions, prefixes and demos", () => {
    const { predictors, warnings } = dspyLoad(fixture('saved_by_elexirion.json'), PYTHON_QA);
    expect(warnings).toEqual([]); // dspy version matches the 3.3.1 stand-in; nothing else is compared
    const retrieve = predictors['retrieve']!;
    const answer = predictors['answer.predict']!;
    expectUsable(retrieve, 2);
    expectUsable(answer, 4);
    expect(retrieve.fields.map((f) => [f.name, f.prefix, f.desc])).toEqual([
      ['question', 'Question:', '${question}'],
      ['query', 'Search Query:', 'keywords'],
    ]);
    expect(answer.instructions).toBe('Answer from the context; quote it.');
    expect(answer.fields.map((f) => f.prefix)).toEqual(['Question:', 'Context:', 'Reasoning:', 'Answer:']);
    expect(answer.demos).toEqual([
      { augmented: true, question: 'What is 2 + 2?', context: ['Arithmetic.'], reasoning: 'Two and two.', answer: '4' },
      { question: 'Who wrote Hamlet?', context: [], answer: 'Shakespeare' },
    ]);
  });

  it('writes only keys DSPy knows in dependency_versions; our version and format sit where DSPy does not look', () => {
    const meta = saveProgram(compiledHere()).metadata;
    expect(meta.dependency_versions).toEqual({ dspy: DSPY_FORMAT_VERSION });
    expect(meta.elexirion).toEqual({ version: ELEXIRION_VERSION, format: '1.0' });
    // Any DSPy version just warns about the mismatch: the program still loads.
    const { warnings } = dspyLoad(programToJson(compiledHere()).replace('"dspy": "3.3.1"', '"dspy": "3.0.0"'), PYTHON_QA);
    expect(warnings).toEqual(['mismatch of dspy version']);
  });

  it('the layout saved before this change is the one DSPy refused (KeyError on our key)', () => {
    const old = JSON.parse(programToJson(compiledHere()));
    old.metadata = { dependency_versions: { elexirion: '0.1.0', format: '1.0' } };
    expect(() => dspyLoad(JSON.stringify(old), PYTHON_QA)).toThrow(/KeyError: 'elexirion'/);
  });

  it('a bare Predict saves under "self", the name DSPy gives a Predict loading itself', () => {
    const p = new Predict('question -> answer');
    p.demos = [new Example({ question: 'q', answer: 'a' })];
    const { predictors } = dspyLoad(programToJson(p), { self: ['question', 'answer'] });
    expect(predictors['self']!.demos).toEqual([{ question: 'q', answer: 'a' }]);
  });

  const dspyImportable = (() => {
    try {
      execFileSync('python3', ['-c', 'import dspy'], { stdio: 'ignore', timeout: 30_000 });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!dspyImportable)('loads with the real dspy when python3 has it installed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dspy-interop-'));
    const path = join(dir, 'program.json');
    writeFileSync(path, programToJson(compiledHere()));
    const script = [
      'import sys, json, dspy',
      'class QA(dspy.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.retrieve = dspy.Predict("question -> query")',
      '        self.answer = dspy.ChainOfThought("question, context: list[str] -> answer")',
      'p = QA()',
      'p.load(sys.argv[1])',
      'print(json.dumps({"instructions": p.answer.predict.signature.instructions, "demos": len(p.answer.predict.demos), "prefix": p.retrieve.signature.fields["query"].json_schema_extra["prefix"]}))',
    ].join('\n');
    const out = JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8', timeout: 120_000 }));
    expect(out).toEqual({ instructions: 'Answer from the context; quote it.', demos: 2, prefix: 'Search Query:' });
  });
});

describe('a program DSPy saved loads here', () => {
  it('applies the DSPy 3.3 golden file: demos, instructions, retitled field, CoT reasoning field', async () => {
    const p = await loadProgramFromFile(new RetrieveAnswer(), new URL('saved_by_dspy.json', FIXTURES).pathname);
    expect(p.retrieve.demos.map((d) => d.toDict())).toEqual([{ question: 'Which planet is largest?', query: 'largest planet solar system' }]);
    expect(p.retrieve.signature.field('query')).toMatchObject({ prefix: 'Search Query:', description: 'keywords for a search engine' });
    expect(p.answer.predict.signature.instructions).toBe('Answer the question from the context. Be brief.');
    expect(p.answer.predict.signature.field('reasoning')?.prefix).toBe('Reasoning:');
    expect(p.answer.predict.demos[0]?.get('augmented')).toBe(true);
    expect(p.answer.predict.demos[1]?.get('context')).toEqual([]);
  });

  it('the DSPy golden passes the load walk too (the walk agrees with what DSPy writes)', () => {
    const { predictors, warnings } = dspyLoad(fixture('saved_by_dspy.json'), PYTHON_QA);
    expect(warnings).toEqual([]);
    expectUsable(predictors['answer.predict']!, 4);
  });

  it('reloading a DSPy file and saving it here gives a file DSPy loads to the same state', () => {
    const p = loadProgram(new RetrieveAnswer(), JSON.parse(fixture('saved_by_dspy.json')));
    const theirs = dspyLoad(fixture('saved_by_dspy.json'), PYTHON_QA).predictors;
    const ours = dspyLoad(programToJson(p), PYTHON_QA).predictors;
    expect(ours).toEqual(theirs);
  });
});

describe('files saved before the DSPy-loadable layout still load here', () => {
  const oldLayout = (format: string) => {
    const json = JSON.parse(programToJson(compiledHere()));
    json.metadata = { dependency_versions: { elexirion: '0.1.0', format } };
    return json;
  };

  it('reads the format from dependency_versions when metadata.elexirion is absent', () => {
    expect(programToJson(loadProgram(new RetrieveAnswer(), oldLayout('1.0')))).toBe(programToJson(compiledHere()));
    expect(() => loadProgram(new RetrieveAnswer(), oldLayout('2.0'))).toThrow(/format 2\.0 is not supported/);
  });

  it('checks the format in metadata.elexirion first', () => {
    const json = JSON.parse(programToJson(compiledHere()));
    json.metadata.elexirion.format = '2.1';
    expect(() => loadProgram(new RetrieveAnswer(), json)).toThrow(ProgramLoadError);
    json.metadata.elexirion.format = '1.4';
    json.metadata.dependency_versions.format = '9.0'; // a stray old key does not override ours
    expect(programToJson(loadProgram(new RetrieveAnswer(), json))).toBe(programToJson(compiledHere()));
  });
});
