import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChainOfThought, Example, Module, Predict, type Prediction } from '../../src/dspy/index.js';
import { loadProgram, loadProgramFromFile, programToJson, ProgramLoadError, saveProgram, saveProgramToFile } from '../../src/optimizers/index.js';
import { Nested } from './helpers.js';

class Deep extends Module {
  inner = new Nested();
  cot = new ChainOfThought('summary -> verdict: bool');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.inner.call(inputs);
  }
}

function trained(): Deep {
  const d = new Deep();
  d.inner.first.predict.demos = [new Example({ augmented: true, question: 'Q?', answer: 'A' }), new Example({ question: 'Q2?', answer: 'B' })];
  d.inner.first.predict.signature = d.inner.first.predict.signature.withInstructions('Answer tersely.');
  (d.inner.steps[0] as Predict).signature = (d.inner.steps[0] as Predict).signature.withUpdatedField('summary', { prefix: 'Sum:', description: 'one line' });
  d.cot.predict.demos = [new Example({ summary: 's', reasoning: 'r', verdict: true })];
  return d;
}

describe('save/load', () => {
  it('saves DSPy-shaped JSON and round-trips nested programs', async () => {
    const json = saveProgram(trained());
    expect(Object.keys(json)).toEqual(['inner.first.predict', 'inner.steps[0]', 'cot.predict', 'metadata']);
    expect(json['inner.first.predict']).toMatchObject({
      demos: [{ augmented: true, question: 'Q?', answer: 'A' }, { question: 'Q2?', answer: 'B' }],
      signature: { instructions: 'Answer tersely.', fields: [{ prefix: 'Question:', description: '${question}' }, { prefix: 'Answer:', description: '${answer}' }] },
      lm: null,
    });
    expect(json.metadata.elexirion?.format).toBe('1.0');
    const dir = mkdtempSync(join(tmpdir(), 'prog-'));
    await saveProgramToFile(trained(), join(dir, 'p.json'));
    const fresh = await loadProgramFromFile(new Deep(), join(dir, 'p.json'));
    expect(programToJson(fresh)).toBe(programToJson(trained()));
    expect((fresh.inner.steps[0] as Predict).signature.field('summary')).toMatchObject({ prefix: 'Sum:', description: 'one line' });
    expect(fresh.inner.first.predict.demos[0]).toBeInstanceOf(Example);
  });

  it('a corrupted file leaves the module exactly as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prog-'));
    const target = trained();
    const before = programToJson(target);
    const good = saveProgram(new Deep());
    const bad = JSON.parse(JSON.stringify(good));
    bad['cot.predict'].signature.fields = [{ prefix: 'x' }]; // the LAST predictor is the broken one
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
    await expect(loadProgramFromFile(target, join(dir, 'bad.json'))).rejects.toThrow(ProgramLoadError);
    writeFileSync(join(dir, 'torn.json'), programToJson(new Deep()).slice(0, 200));
    await expect(loadProgramFromFile(target, join(dir, 'torn.json'))).rejects.toThrow(/not valid JSON/);
    expect(programToJson(target)).toBe(before);
  });

  it('refuses an unknown major format version and an unknown predictor path, with clear messages', () => {
    const json = JSON.parse(JSON.stringify(saveProgram(new Deep())));
    json.metadata.elexirion.format = '2.0';
    expect(() => loadProgram(new Deep(), json)).toThrow(/format 2\.0 is not supported/);
    const json2 = JSON.parse(JSON.stringify(saveProgram(new Deep())));
    json2['ghost.predict'] = json2['cot.predict'];
    expect(() => loadProgram(new Deep(), json2)).toThrow(/unknown predictor path\(s\) "ghost.predict"/);
  });

  it('loads a file DSPy wrote (no format key)', () => {
    const json = JSON.parse(JSON.stringify(saveProgram(new Deep())));
    json.metadata = { dependency_versions: { python: '3.11', dspy: '2.6.27', cloudpickle: '3.1' } };
    json['cot.predict'].demos = [{ summary: 'x', reasoning: 'y', verdict: false }];
    const d = loadProgram(new Deep(), json);
    expect(d.cot.predict.demos[0]?.get('verdict')).toBe(false);
  });
});

describe('loading refuses what it cannot apply, and changes nothing', () => {
  const saved = () => JSON.parse(JSON.stringify(saveProgram(trained())));

  it('refuses what is not a JSON object', () => {
    for (const bad of [null, 3, 'x', [saved()]]) expect(() => loadProgram(new Deep(), bad)).toThrow(ProgramLoadError);
  });

  it('refuses a file missing a predictor of the program, naming it', () => {
    const json = saved();
    delete json['cot.predict'];
    const target = trained();
    const before = programToJson(target);
    expect(() => loadProgram(target, json)).toThrow(/no state for predictor path\(s\) "cot.predict"/);
    expect(programToJson(target)).toBe(before);
  });

  it('refuses invalid metadata and a format whose major version is not 1; reads any 1.x', () => {
    const badMeta = saved();
    badMeta.metadata = { dependency_versions: { format: 1 } };
    expect(() => loadProgram(new Deep(), badMeta)).toThrow(ProgramLoadError);
    for (const format of ['x.0', '0.9', '10.0']) {
      const json = saved();
      json.metadata.elexirion.format = format;
      expect(() => loadProgram(new Deep(), json)).toThrow(ProgramLoadError);
    }
    const minor = saved();
    minor.metadata.elexirion.format = '1.7';
    expect(programToJson(loadProgram(new Deep(), minor))).toBe(programToJson(trained()));
    const none = saved();
    delete none.metadata;
    expect(programToJson(loadProgram(new Deep(), none))).toBe(programToJson(trained()));
  });

  it('refuses a predictor state of the wrong shape, naming the predictor and the field', () => {
    const json = saved();
    json['inner.steps[0]'].demos = 'none';
    expect(() => loadProgram(new Deep(), json)).toThrow(/predictor "inner.steps\[0\]": demos:/);
  });

  it('saves demos as plain JSON: undefined values dropped, so what is saved is what reloads', () => {
    const d = new Deep();
    d.inner.first.predict.demos = [new Example({ question: 'Q', answer: undefined as unknown as string })];
    const json = saveProgram(d);
    expect((json['inner.first.predict'] as { demos: unknown[] }).demos).toEqual([{ question: 'Q' }]);
    expect(json['inner.first.predict']).toMatchObject({ traces: [], train: [], lm: null });
  });

  it('a file that does not parse names the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prog-'));
    const path = join(dir, 'p.json');
    writeFileSync(path, '{');
    await expect(loadProgramFromFile(new Deep(), path)).rejects.toThrow(path);
    const json = saved();
    delete json['cot.predict'];
    writeFileSync(path, JSON.stringify(json));
    await expect(loadProgramFromFile(new Deep(), path)).rejects.toThrow(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: saved program`));
  });
});
