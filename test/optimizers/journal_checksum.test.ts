import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeJournalLine, encodeJournalLine, RunJournal } from '../../src/optimizers/journal.js';

// Issue #12, break 7: a flipped byte that keeps a journal line valid JSON was replayed as a
// result the run never produced. Every line now carries a checksum; a damaged line ends
// replay there, visibly (journal.damage, and the set-aside tail on disk).
const open = (dir: string) => RunJournal.open(dir, { optimizer: 'X', configHash: 'h' });

function journalWith(entries: Array<[string, unknown]>): string {
  const dir = mkdtempSync(join(tmpdir(), 'journal-sum-'));
  const j = open(dir);
  for (const [k, v] of entries) j.append(k, v);
  j.close();
  return dir;
}

describe('journal line checksums', () => {
  it('round-trips a record and detects any changed byte', () => {
    const line = encodeJournalLine({ type: 'entry', key: 'k', value: { score: 0.75 } });
    expect(decodeJournalLine(line)).toEqual({ record: { type: 'entry', key: 'k', value: { score: 0.75 } } });
    expect(decodeJournalLine(line.replace('0.75', '0.95'))).toEqual({ damaged: 'checksum mismatch' });
    expect(decodeJournalLine('{"type":"entry","key":"k","value":1}')).toEqual({ damaged: 'no checksum' });
  });

  it('stops replay at a flipped byte that keeps the JSON valid, and says so', () => {
    const dir = journalWith([
      ['a', { score: 0.25 }],
      ['b', { score: 0.5 }],
      ['c', { score: 0.75 }],
    ]);
    const path = join(dir, 'journal.jsonl');
    const text = readFileSync(path, 'utf8');
    // 0.5 -> 0.9: still valid JSON, a score the run never measured.
    writeFileSync(path, text.replace('"score":0.5', '"score":0.9'));
    const j = open(dir);
    expect(j.get('a')).toEqual({ score: 0.25 });
    expect(j.has('b')).toBe(false);
    expect(j.has('c')).toBe(false); // replay ends at the damage: later records are redone too
    expect(j.replayable).toBe(1);
    expect(j.damage).toMatchObject({ line: 3, reason: 'checksum mismatch', droppedLines: 2 });
    expect(existsSync(j.damage!.savedTo)).toBe(true);
    expect(readFileSync(j.damage!.savedTo, 'utf8')).toContain('"score":0.9');
    // Appends after the cut start clean, and the journal reads back whole.
    j.append('b', { score: 0.5 });
    j.close();
    const again = open(dir);
    expect(again.damage).toBeUndefined();
    expect(again.get('b')).toEqual({ score: 0.5 });
    again.close();
  });

  it('a damaged header replays nothing and starts the journal over', () => {
    const dir = journalWith([['a', 1]]);
    const path = join(dir, 'journal.jsonl');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"configHash":"h"', '"configHash":"H"'));
    const j = open(dir);
    expect(j.replayable).toBe(0);
    expect(j.damage).toMatchObject({ line: 1, reason: 'checksum mismatch' });
    j.close();
    expect(decodeJournalLine(readFileSync(path, 'utf8').split('\n')[0]!)).toMatchObject({ record: { type: 'header', configHash: 'h' } });
  });
});
