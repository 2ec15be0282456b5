import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { BootstrapFewShot, BootstrapFewShotWithRandomSearch, JournalConfigMismatchError, programToJson, RunJournal } from '../../src/optimizers/index.js';
import { exact, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

describe('RunJournal', () => {
  it('ignores a torn last line and keeps appending cleanly after it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'journal-'));
    const j = RunJournal.open(dir, { optimizer: 'X', configHash: 'h' });
    j.append('a', { v: 1 });
    j.close();
    appendFileSync(join(dir, 'journal.jsonl'), '{"type":"entry","key":"b","va');
    const j2 = RunJournal.open(dir, { optimizer: 'X', configHash: 'h' });
    expect(j2.get('a')).toEqual({ v: 1 });
    expect(j2.has('b')).toBe(false);
    j2.append('c', 3);
    j2.close();
    const j3 = RunJournal.open(dir, { optimizer: 'X', configHash: 'h' });
    expect(j3.get('c')).toBe(3);
    j3.close();
    expect(() => RunJournal.open(dir, { optimizer: 'X', configHash: 'other' })).toThrow(JournalConfigMismatchError);
  });
});

describe('resume in process', () => {
  it('BootstrapFewShot replays journaled examples and ends with the same program', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'boot-'));
    const go = async () => {
      const o = oracle(12, { wrong: (i) => i % 3 !== 2 });
      settings.configure({ lm: o.lm });
      const r = await new BootstrapFewShot({ maxBootstrappedDemos: 3, maxLabeledDemos: 5 }).compile(new QA(), { trainset: qa(12), metric: exact, runDir: dir, concurrency: 3 });
      return { json: programToJson(r.program), calls: o.dummy.calls };
    };
    const full = await go();
    const path = join(dir, 'journal.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    // Keep the header and the first four example records, as if killed there mid-append.
    const kept = lines.filter((l) => !l.includes('"type":"entry"') || /bootstrap\/example\/[0-3]"/.test(l));
    writeFileSync(path, kept.join('\n') + '\n{"type":"entry","key":"bootstrap/exa');
    const resumed = await go();
    expect(resumed.json).toBe(full.json);
    expect(resumed.calls).toBeLessThan(full.calls);
    expect(readFileSync(join(dir, 'program.json'), 'utf8')).toBe(full.json);
  });

  it('random search refuses to resume a run whose config changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rs-'));
    settings.configure({ lm: oracle(8).lm });
    await new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 1 }).compile(new QA(), { trainset: qa(4), valset: qa(4, 4), metric: exact, runDir: dir });
    await expect(
      new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 2 }).compile(new QA(), { trainset: qa(4), valset: qa(4, 4), metric: exact, runDir: dir }),
    ).rejects.toThrow(/holds a journal of a different run/);
  });
});
