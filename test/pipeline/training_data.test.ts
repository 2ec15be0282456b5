import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Example } from '../../src/dspy/index.js';
import { examplesFromInline, loadTrainingData, QUALITY_THRESHOLD, TrainingDataError, TrainingDataManager } from '../../src/pipeline/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'training-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const OTP = {
  input: { code: 'defmodule MyAgent do\n  use Agent\nend', analysis_type: 'otp_patterns' },
  expected: { findings: ['Agent started without supervision'], recommendations: ['Add Agent to supervision tree'], severity: 'medium' },
};

describe('TrainingDataManager', () => {
  it('creates, lists and loads examples as DSPy Examples', async () => {
    const m = new TrainingDataManager(dir);
    const id = await m.createExample(OTP.input, OTP.expected, { source: 'seed' }, { createdAt: new Date('2026-01-01T00:00:00Z') });
    expect(id).toMatch(/^[0-9a-f]{8}$/);
    const id2 = await m.createExample({ code: 'x', analysis_type: 'y' }, { findings: [], recommendations: [], severity: 'low' }, {}, { id: 'later' });
    expect(id2).toBe('later');
    await expect(m.createExample({ code: 'x' }, { a: 1 }, {}, { id: 'later' })).rejects.toThrow(/already exists/);

    const file = JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8'));
    expect(Object.keys(file)).toEqual(['id', 'input', 'expected_output', 'metadata', 'created_at']);
    expect((await m.listExamples()).map((r) => r.id)).toEqual([id, 'later']);

    const [ex] = await m.loadExamples();
    expect(ex).toBeInstanceOf(Example);
    expect(ex!.inputKeys).toEqual(['code', 'analysis_type']);
    expect(ex!.inputs().toDict()).toEqual(OTP.input);
    expect(ex!.get('findings')).toEqual(OTP.expected.findings);
    expect(ex!.get('expected_output')).toEqual(OTP.expected);
    expect(ex!.labels().keys()).toEqual(['findings', 'recommendations', 'severity', 'expected_output']);
    expect(await m.validate()).toEqual({ ok: true, valid: 2, problems: [] });
  });

  it('reports every corrupt or invalid file by name, never dropping it silently', async () => {
    const m = new TrainingDataManager(dir);
    await m.createExample(OTP.input, OTP.expected, {}, { id: 'good' });
    await writeFile(join(dir, 'torn.json'), '{"id": "torn", "input": {"co');
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ id: 'bad', input: { code: 'x' }, expected_output: ['not', 'a', 'map'], created_at: 'yesterday' }));
    await writeFile(join(dir, 'notes.txt'), 'ignored: not an example file');
    const report = await m.validate();
    expect(report.ok).toBe(false);
    expect(report.valid).toBe(1);
    expect(report.problems.map((p) => [p.file, p.path])).toEqual([
      ['bad.json', 'expected_output'],
      ['bad.json', 'created_at'],
      ['torn.json', '(root)'],
    ]);
    await expect(m.loadExamples()).rejects.toThrow(TrainingDataError);
    await expect(m.listExamples()).rejects.toThrow(/torn\.json: not valid JSON.*|bad\.json at expected_output/);
  });

  it('turns inline examples into Examples, reporting bad items by index', () => {
    const [ex] = examplesFromInline([{ input: OTP.input, expected_output: OTP.expected }]);
    expect(ex!.inputKeys).toEqual(['code', 'analysis_type']);
    expect(ex!.get('severity')).toBe('medium');
    expect(() => examplesFromInline([{ input: OTP.input, expected_output: OTP.expected }, { input: 'x', expected_output: {} }])).toThrow(
      /examples\[1\]\.input/,
    );
    expect(() => examplesFromInline([{ input: { severity: 'x' }, expected_output: { severity: 'y' } }])).toThrow(/examples\[0\]\.input\.severity/);
    expect(examplesFromInline([{ id: 7, input: { a: 1 }, expected_output: { b: 2 } }])[0]!.get('b')).toBe(2);
  });

  it('loads training data from a directory or inline, as the wire names them', async () => {
    await new TrainingDataManager(dir).createExample(OTP.input, OTP.expected, {}, { id: 'only' });
    const fromDir = await loadTrainingData({ dir });
    const inline = await loadTrainingData({ examples: [{ input: OTP.input, expected_output: OTP.expected }] });
    expect(fromDir.map((e) => e.toDict())).toEqual(inline.map((e) => e.toDict()));
    await expect(loadTrainingData({ examples: [{ input: 1 }] })).rejects.toThrow(/trainingData\.examples\[0\]/);
  });

  it('keeps executions scoring at least 8.0 and drops the rest', async () => {
    const m = new TrainingDataManager(dir);
    const config = { workflow: { name: 'w', steps: [] } };
    const result = { status: 'ok', steps: {}, output: JSON.stringify(OTP.expected), durationMs: 5 };
    expect(QUALITY_THRESHOLD).toBe(8.0);
    expect(await m.createFromSuccessfulExecution(config, OTP.input, result, 7.9)).toBeUndefined();
    expect(await m.createFromSuccessfulExecution(config, OTP.input, { ...result, status: 'error' }, 9.5)).toBeUndefined();
    const id = await m.createFromSuccessfulExecution(config, OTP.input, result, 8.0);
    expect(id).toBeDefined();
    const [rec] = await m.listExamples();
    expect(rec!.expected_output).toEqual(OTP.expected);
    expect(rec!.metadata).toEqual({ pipeline_config: config, quality_score: 8.0, source: 'successful_execution' });
  });

  it('a writer killed mid-write never leaves a torn example; its temp files are ignored and left alone', async () => {
    const dist = resolve(process.env['ELEXIRION_DIST'] ?? 'dist');
    const modulePath = join(dist, 'pipeline', 'training_data.js');
    if (!existsSync(modulePath)) {
      throw new Error(`${modulePath} is missing: run \`npm run build\` first (npm test does), or set ELEXIRION_DIST to a build directory`);
    }
    const child = join(dir, '..', `writer-${process.pid}.mjs`);
    await writeFile(
      child,
      `const { TrainingDataManager } = await import(${JSON.stringify(modulePath)});
const m = new TrainingDataManager(process.argv[2]);
const big = 'x'.repeat(1 << 20);
for (let i = 0; ; i++) {
  await m.createExample({ code: big, i }, { findings: [big] }, { i });
  process.stdout.write('w');
}
`,
    );
    const data = join(dir, 'data');
    // Kill the writer at varied moments until at least one kill landed mid-write (it left a
    // temp file behind): at that instant a non-atomic writer would have left a torn file.
    let midWriteKills = 0;
    try {
      for (let round = 0; round < 12 && (round < 3 || midWriteKills === 0); round++) {
        const proc = spawn(process.execPath, [child, data], { stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((res, rej) => {
          proc.once('error', rej);
          proc.once('exit', (code) => rej(new Error(`writer exited early with ${code}`)));
          proc.stdout.once('data', () => res());
        });
        await new Promise((r) => setTimeout(r, 3 + ((round * 7) % 20)));
        proc.removeAllListeners('exit');
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
        const names = await readdir(data);
        if (names.some((n) => n.includes(`.${proc.pid}.`) && n.endsWith('.tmp'))) midWriteKills++;
        for (const name of names.filter((n) => n.endsWith('.json'))) {
          expect(() => JSON.parse(readFileSync(join(data, name), 'utf8')), name).not.toThrow();
        }
      }
      expect(midWriteKills).toBeGreaterThan(0);
      const m = new TrainingDataManager(data);
      const before = (await readdir(data)).sort();
      const report = await m.validate();
      expect(report.problems).toEqual([]);
      expect(report.valid).toBeGreaterThanOrEqual(3);
      // Reading is read-only: the dead writer's temp files are skipped, not removed.
      expect((await readdir(data)).sort()).toEqual(before);
    } finally {
      await rm(child, { force: true });
    }
  });

  it('reading never deletes a file it did not write: .notes.tmp and foreign temp names survive', async () => {
    const m = new TrainingDataManager(dir);
    await m.createExample(OTP.input, OTP.expected, {}, { id: 'one' });
    // A user's scratch file, and a name that looks like ours but whose "pid" is long gone.
    await writeFile(join(dir, '.notes.tmp'), 'my notes');
    await writeFile(join(dir, '.one.json.999999999.deadbeef.tmp'), 'half');
    expect((await m.listExamples()).map((r) => r.id)).toEqual(['one']);
    await m.validate();
    await loadTrainingData({ dir });
    expect(await readFile(join(dir, '.notes.tmp'), 'utf8')).toBe('my notes');
    expect((await readdir(dir)).sort()).toEqual(['.notes.tmp', '.one.json.999999999.deadbeef.tmp', 'one.json']);
  });

  it('refuses non-UTF-8 bytes with the file name and byte offset', async () => {
    const m = new TrainingDataManager(dir);
    await m.createExample(OTP.input, OTP.expected, {}, { id: 'good' });
    const body = Buffer.concat([Buffer.from('{"id":"bad","input":{"code":"caf'), Buffer.from([0xe9]), Buffer.from('"},"expected_output":{},"created_at":"2026-01-01T00:00:00Z"}')]);
    await writeFile(join(dir, 'bad.json'), body);
    const err = await m.listExamples().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDataError);
    const problems = (err as TrainingDataError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]!.file).toBe('bad.json');
    expect(problems[0]!.message).toMatch(/not valid UTF-8: bad byte at offset 32/);
  });

  it('refuses entries that are not regular files, and a file where the folder should be, without opening them', async () => {
    const m = new TrainingDataManager(dir);
    await m.createExample(OTP.input, OTP.expected, {}, { id: 'good' });
    await mkdir(join(dir, 'folder.json'));
    execFileSync('mkfifo', [join(dir, 'pipe.json')]);
    const err = (await m.listExamples().catch((e: unknown) => e)) as TrainingDataError;
    expect(err).toBeInstanceOf(TrainingDataError);
    expect(err.problems.map((p) => [p.file, /not a regular file/.test(p.message)])).toEqual([
      ['folder.json', true],
      ['pipe.json', true],
    ]);
    const notDir = new TrainingDataManager(join(dir, 'good.json'));
    await expect(notDir.listExamples()).rejects.toMatchObject({ name: 'InputRefusedError', data: { path: join(dir, 'good.json') } });
    const under = new TrainingDataManager(join(dir, 'good.json', 'sub'));
    await expect(under.listExamples()).rejects.toMatchObject({ name: 'InputRefusedError', data: { kind: 'not-a-directory' } });
  });

  it('bounds the example count, the file size and the folder size (env limits)', async () => {
    const m = new TrainingDataManager(dir);
    for (const id of ['a', 'b', 'c']) await m.createExample(OTP.input, OTP.expected, {}, { id });
    const saved = { ...process.env };
    try {
      process.env.ELEXIRION_MAX_EXAMPLES = '2';
      await expect(m.listExamples()).rejects.toMatchObject({ name: 'InputRefusedError', data: { limit: 'ELEXIRION_MAX_EXAMPLES', max: 2, actual: 3 } });
      expect(() => examplesFromInline([{ input: {}, expected_output: {} }, { input: {}, expected_output: {} }, { input: {}, expected_output: {} }])).toThrow(/ELEXIRION_MAX_EXAMPLES/);
      delete process.env.ELEXIRION_MAX_EXAMPLES;
      process.env.ELEXIRION_MAX_TRAINING_FILE_BYTES = '100';
      const err = (await m.listExamples().catch((e: unknown) => e)) as TrainingDataError;
      expect(err.problems.map((p) => p.file)).toEqual(['a.json', 'b.json', 'c.json']);
      expect(err.problems[0]!.message).toMatch(/ELEXIRION_MAX_TRAINING_FILE_BYTES/);
      delete process.env.ELEXIRION_MAX_TRAINING_FILE_BYTES;
      process.env.ELEXIRION_MAX_TRAINING_DIR_BYTES = '500';
      await expect(m.listExamples()).rejects.toMatchObject({ name: 'InputRefusedError', data: { limit: 'ELEXIRION_MAX_TRAINING_DIR_BYTES', path: dir } });
    } finally {
      process.env = saved;
    }
    expect(await m.listExamples()).toHaveLength(3);
  });
});
