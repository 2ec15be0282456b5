// The journal file as a resumed run reads it: only entry records are replayed, a reopened
// journal keeps its one header, a torn or blank line is not damage, a damaged tail is saved
// as it was, and the errors are recognisable by name.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeJournalLine, journaledEntries, JournalConfigMismatchError, JournalCorruptError, RunJournal, JOURNAL_FILE } from '../../src/optimizers/journal.js';

const fresh = () => join(mkdtempSync(join(tmpdir(), 'journal-rec-')), 'run');
const open = (dir: string) => RunJournal.open(dir, { optimizer: 'X', configHash: 'h' });
const header = encodeJournalLine({ type: 'header', format: 1, optimizer: 'X', configHash: 'h' });
const write = (dir: string, lines: string[]) => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, JOURNAL_FILE), lines.join('\n') + '\n');
};

describe('journal records', () => {
  it('replays entry records with a string key only', () => {
    const dir = fresh();
    write(dir, [
      header,
      encodeJournalLine({ type: 'entry', key: 'k', value: 1 }),
      encodeJournalLine({ type: 'note', key: 'n', value: 2 }),
      encodeJournalLine({ type: 'entry', key: 5, value: 3 }),
    ]);
    const j = open(dir);
    expect([j.has('k'), j.has('n'), j.has('5')]).toEqual([true, false, false]);
    expect(j.replayable).toBe(1);
    j.close();
  });

  it('counts every entry, not the header', () => {
    const dir = fresh();
    const j = open(dir);
    j.append('a', 1);
    j.append('b', 2);
    j.close();
    expect(journaledEntries(dir)).toBe(2);
  });

  it('a reopened journal keeps its single header', () => {
    const dir = fresh();
    open(dir).close();
    const j = open(dir);
    j.append('a', 1);
    j.close();
    const lines = readFileSync(join(dir, JOURNAL_FILE), 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines.filter((l) => l.includes('"type":"header"'))).toHaveLength(1);
  });

  it('refuses a first record that is not a header, even one shaped like it, or a header without a config hash', () => {
    const entryLike = fresh();
    write(entryLike, [encodeJournalLine({ type: 'entry', format: 1, optimizer: 'X', configHash: 'h' })]);
    expect(() => open(entryLike)).toThrow(JournalCorruptError);
    const noHash = fresh();
    write(noHash, [encodeJournalLine({ type: 'header', format: 1, optimizer: 'X' })]);
    expect(() => open(noHash)).toThrow(JournalCorruptError);
  });

  it('a torn last line (a crash mid-append) and blank lines are not damage', () => {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    const entry = encodeJournalLine({ type: 'entry', key: 'a', value: 1 });
    writeFileSync(join(dir, JOURNAL_FILE), `${header}\n\n${entry}\n${entry.slice(0, 20)}`);
    const j = open(dir);
    expect(j.damage).toBeUndefined();
    expect(j.get('a')).toBe(1);
    j.close();
    expect(readdirSync(dir).filter((f) => f.includes('damaged'))).toEqual([]);
  });

  it('saves the damaged tail exactly as it was, beside the journal', () => {
    const dir = fresh();
    const good = encodeJournalLine({ type: 'entry', key: 'a', value: 1 });
    const bad = encodeJournalLine({ type: 'entry', key: 'b', value: 2 }).replace('"value":2', '"value":3');
    const after = encodeJournalLine({ type: 'entry', key: 'c', value: 4 });
    write(dir, [header, good, bad, after]);
    const j = open(dir);
    expect(j.damage?.savedTo.startsWith(join(dir, `${JOURNAL_FILE}.damaged-`))).toBe(true);
    expect(readFileSync(j.damage!.savedTo, 'utf8')).toBe(`${bad}\n${after}\n`);
    j.close();
    expect(readFileSync(join(dir, JOURNAL_FILE), 'utf8')).toBe(`${header}\n${good}\n`);
    expect(existsSync(j.damage!.savedTo)).toBe(true);
  });

  it('its errors carry their names', () => {
    expect(new JournalConfigMismatchError('/r', 'a'.repeat(64), 'b'.repeat(64)).name).toBe('JournalConfigMismatchError');
    expect(new JournalCorruptError('x').name).toBe('JournalCorruptError');
    const msg = new JournalConfigMismatchError('/r', 'a'.repeat(64), 'b'.repeat(64)).message;
    expect(msg).toContain('bbbbbbbbbbbb,');
    expect(msg).not.toContain('b'.repeat(13));
  });
});
