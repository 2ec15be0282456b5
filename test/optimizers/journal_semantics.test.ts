// The run journal as a resumed run relies on it: what is read back, what counts as replayed or
// recorded, which journals are refused.
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeJournalLine, journaledEntries, JournalConfigMismatchError, JournalCorruptError, RunJournal, JOURNAL_FILE } from '../../src/optimizers/journal.js';

const fresh = () => join(mkdtempSync(join(tmpdir(), 'journal-sem-')), 'run');
const open = (dir: string, configHash = 'h', optimizer = 'X') => RunJournal.open(dir, { optimizer, configHash });

describe('RunJournal', () => {
  it('reads back what an earlier session appended; a key written twice keeps its first value', () => {
    const dir = fresh();
    const a = open(dir);
    expect(a.replayable).toBe(0);
    a.append('k', { score: 1 });
    a.append('k', { score: 2 });
    expect(a.get('k')).toEqual({ score: 1 });
    a.close();
    const b = open(dir);
    expect(b.replayable).toBe(1);
    expect(b.has('k')).toBe(true);
    expect(b.has('other')).toBe(false);
    expect(b.get('k')).toEqual({ score: 1 });
    b.close();
    expect(journaledEntries(dir)).toBe(1);
  });

  it('counts replayed units once and does not count its own appends as replayed', () => {
    const dir = fresh();
    const a = open(dir);
    a.append('old', 1);
    a.close();
    const b = open(dir);
    b.get('old');
    b.get('old');
    b.get('missing');
    b.append('new', 2);
    b.get('new');
    expect(b.work).toEqual({ replayed: 1, recorded: 1 });
    b.close();
  });

  it('refuses the journal of another run: another config hash or another optimizer', () => {
    const dir = fresh();
    open(dir).close();
    expect(() => open(dir, 'other')).toThrow(JournalConfigMismatchError);
    expect(() => open(dir, 'h', 'Y')).toThrow(JournalConfigMismatchError);
    expect(() => open(dir).close()).not.toThrow();
  });

  it('refuses a journal whose first record is not a header, or of another format', () => {
    const noHeader = fresh();
    mkdirSync(noHeader, { recursive: true });
    writeFileSync(join(noHeader, JOURNAL_FILE), encodeJournalLine({ type: 'entry', key: 'k', value: 1 }) + '\n');
    expect(() => open(noHeader)).toThrow(JournalCorruptError);
    const future = fresh();
    mkdirSync(future, { recursive: true });
    writeFileSync(join(future, JOURNAL_FILE), encodeJournalLine({ type: 'header', format: 2, optimizer: 'X', configHash: 'h' }) + '\n');
    expect(() => open(future)).toThrow(JournalCorruptError);
  });

  it('refuses a journal that is a symbolic link, and reads none through it', () => {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    const target = join(mkdtempSync(join(tmpdir(), 'journal-target-')), 'j');
    writeFileSync(target, '');
    symlinkSync(target, join(dir, JOURNAL_FILE));
    expect(() => open(dir)).toThrow(JournalCorruptError);
    expect(journaledEntries(dir)).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('');
  });

  it('a closed journal refuses appends', () => {
    const j = open(fresh());
    j.close();
    j.close(); // closing twice is harmless
    expect(() => j.append('k', 1)).toThrow();
  });

  it('journaledEntries: 0 without a journal, entries up to a damaged line otherwise', () => {
    expect(journaledEntries(fresh())).toBe(0);
    const dir = fresh();
    const j = open(dir);
    j.append('a', 1);
    j.append('b', 2);
    j.append('c', 3);
    j.close();
    const path = join(dir, JOURNAL_FILE);
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"value":2', '"value":9');
    writeFileSync(path, lines.join('\n'));
    expect(journaledEntries(dir)).toBe(1);
  });

  it('a journal line is a non-empty object', () => {
    expect(() => encodeJournalLine({})).toThrow(TypeError);
    expect(() => encodeJournalLine([1] as unknown as object)).toThrow(TypeError);
  });
});
