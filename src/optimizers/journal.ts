/**
 * The run journal: `<runDir>/journal.jsonl`, one JSON record per finished unit of work (a
 * bootstrapped example, a scored candidate, a MIPRO proposal or trial), appended and fsynced
 * before the run moves on. A crash (even kill -9) loses at most the unit in flight.
 *
 * Resuming re-runs the optimizer from the start with the same seed: every random choice is
 * recomputed the same way, and each unit whose record is in the journal is read back instead
 * of being run again. So a resumed run ends with exactly the program an uninterrupted run would
 * have produced, and spends nothing on work already done.
 *
 * The first line is a header holding a hash of the run's configuration (optimizer, options,
 * seed, data, student program). Resuming with a different configuration is refused: replaying
 * records of another run would silently produce a program no run could have produced.
 *
 * Every line carries a checksum of its record (`encodeJournalLine`): a flipped byte that keeps
 * the JSON valid would otherwise be replayed as a result the run never produced. A damaged
 * line ends replay there, visibly: the records before it are replayed, it and everything after
 * it are moved to `journal.jsonl.damaged-<time>` and redone, and `journal.damage` (also in the
 * compile report) says where and why.
 */
import { ElexirionError } from '../errors.js';
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, readSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirSync, mkdirConfinedSync } from '../util/atomic_file.js';

export const JOURNAL_FILE = 'journal.jsonl';
export const JOURNAL_FORMAT = 1;

export class JournalConfigMismatchError extends ElexirionError {
  override readonly code: string = 'JOURNAL_CONFIG_MISMATCH_ERROR';
  override readonly name = 'JournalConfigMismatchError';
  constructor(
    readonly runDir: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(
      `run directory ${runDir} holds a journal of a different run (config hash ${found.slice(0, 12)}, ` +
        `this run ${expected.slice(0, 12)}): the optimizer, its options, the seed, the data or the ` +
        `student program changed. Use a new runDir, or delete ${join(runDir, JOURNAL_FILE)} to start over.`,
    );
  }
}

export class JournalCorruptError extends ElexirionError {
  override readonly code: string = 'JOURNAL_CORRUPT_ERROR';
  override readonly name = 'JournalCorruptError';
}

interface HeaderRecord {
  type: 'header';
  format: number;
  optimizer: string;
  configHash: string;
}

interface EntryRecord {
  type: 'entry';
  key: string;
  value: unknown;
}

export interface JournalOpenOptions {
  optimizer: string;
  configHash: string;
  /**
   * The output folder the run directory must stay inside, symlinks resolved: a run folder (or
   * one of its parents) that is a symlink leading elsewhere is refused before anything is
   * created or written through it.
   */
  root?: string;
}

/** Where replay stopped on a damaged line, and how much was set aside to be redone. */
export interface JournalDamage {
  /** 1-based line number of the first damaged line. */
  line: number;
  reason: string;
  /** Complete lines set aside (the damaged one and every one after it). */
  droppedLines: number;
  /** Where the set-aside lines were saved for inspection. */
  savedTo: string;
}

/** One journal line: the record's JSON with a checksum of it as the first key. */
export function encodeJournalLine(record: object): string {
  const json = JSON.stringify(record);
  if (!json.startsWith('{') || json === '{}') throw new TypeError('a journal record is a non-empty object');
  return `{"sum":"${checksum(json)}",${json.slice(1)}`;
}

/** The record of a line written by `encodeJournalLine`, or why the line is damaged. */
export function decodeJournalLine(line: string): { record: unknown } | { damaged: string } {
  const m = /^\{"sum":"([0-9a-f]{16})",/.exec(line);
  if (!m) return { damaged: 'no checksum' };
  const json = `{${line.slice(m[0].length)}`;
  if (checksum(json) !== m[1]) return { damaged: 'checksum mismatch' };
  try {
    return { record: JSON.parse(json) };
  } catch {
    return { damaged: 'not valid JSON' };
  }
}

function checksum(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16);
}

export class RunJournal {
  private readonly entries = new Map<string, unknown>();
  private fd: number | undefined;
  private readonly readBack = new Set<string>();
  private readonly appendedKeys = new Set<string>();
  private appendedCount = 0;
  /** Records read back from disk when the journal was opened (0 for a fresh run). */
  readonly replayable: number;
  /** Set when replay stopped at a damaged line (see the module comment). */
  damage: JournalDamage | undefined;

  private constructor(
    readonly runDir: string,
    readonly path: string,
    existing: Map<string, unknown>,
  ) {
    for (const [k, v] of existing) this.entries.set(k, v);
    this.replayable = existing.size;
  }

  /** Opens (creating if needed) the journal of `runDir`; throws on a config mismatch. */
  static open(runDir: string, opts: JournalOpenOptions): RunJournal {
    if (opts.root !== undefined) mkdirConfinedSync(opts.root, runDir);
    else mkdirSync(runDir, { recursive: true });
    const path = join(runDir, JOURNAL_FILE);
    const text = readJournalText(path);
    const { records, goodBytes, damage } = parseJournal(text);
    let damaged: JournalDamage | undefined;
    if (damage) {
      // Set the damaged tail aside (for a human to look at) and redo that work.
      const savedTo = `${path}.damaged-${Date.now()}`;
      writeFileSync(savedTo, text.slice(damage.charOffset), { flag: 'wx' });
      damaged = { line: damage.line, reason: damage.reason, droppedLines: damage.droppedLines, savedTo };
    }
    if (goodBytes < Buffer.byteLength(text, 'utf8')) {
      // A torn last line (crash mid-append) or a damaged tail: cut it so appends start clean.
      truncateSync(path, goodBytes);
    }
    const existing = new Map<string, unknown>();
    const header = records[0] as HeaderRecord | undefined;
    if (header) {
      if (header.type !== 'header' || typeof header.configHash !== 'string') {
        throw new JournalCorruptError(`${path}: the first record is not a journal header`);
      }
      if (header.format !== JOURNAL_FORMAT) {
        throw new JournalCorruptError(`${path}: journal format ${header.format} is not supported (expected ${JOURNAL_FORMAT})`);
      }
      if (header.configHash !== opts.configHash || header.optimizer !== opts.optimizer) {
        throw new JournalConfigMismatchError(runDir, opts.configHash, header.configHash);
      }
      for (const r of records.slice(1) as EntryRecord[]) {
        if (r.type === 'entry' && typeof r.key === 'string') existing.set(r.key, r.value);
      }
    }
    const journal = new RunJournal(runDir, path, existing);
    journal.damage = damaged;
    // O_NOFOLLOW: a journal file swapped for a symlink is not appended through.
    journal.fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
    if (!header) {
      journal.writeLine({ type: 'header', format: JOURNAL_FORMAT, optimizer: opts.optimizer, configHash: opts.configHash });
      fsyncDirSync(runDir);
    }
    return journal;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get<T = unknown>(key: string): T | undefined {
    const v = this.entries.get(key) as T | undefined;
    if (v !== undefined && !this.appendedKeys.has(key)) this.readBack.add(key);
    return v;
  }

  /** Units of work this session read back instead of running (resume) and recorded anew. */
  get work(): { replayed: number; recorded: number } {
    return { replayed: this.readBack.size, recorded: this.appendedCount };
  }

  /** Appends and fsyncs one record; a key written twice keeps its first value. */
  append(key: string, value: unknown): void {
    if (this.entries.has(key)) return;
    this.entries.set(key, value);
    this.appendedKeys.add(key);
    this.appendedCount += 1;
    this.writeLine({ type: 'entry', key, value });
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private writeLine(record: HeaderRecord | EntryRecord): void {
    if (this.fd === undefined) throw new Error(`journal ${this.path} is closed`);
    const buf = Buffer.from(encodeJournalLine(record) + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    fsyncSync(this.fd);
  }
}

/**
 * The journal's text, read without following a symlink and only from a regular file (a FIFO
 * planted as the journal must not block the process). Missing: ''.
 */
function readJournalText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return '';
    if (code === 'ELOOP') throw new JournalCorruptError(`${path} is a symbolic link: refused`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new JournalCorruptError(`${path} is not a regular file: refused`);
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

interface ParsedJournal {
  records: unknown[];
  goodBytes: number;
  damage?: { line: number; reason: string; droppedLines: number; charOffset: number };
}

function parseJournal(text: string): ParsedJournal {
  const records: unknown[] = [];
  let goodBytes = 0;
  let pos = 0;
  let lineNo = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    if (nl === -1) break; // no newline: a torn append, ignored
    lineNo += 1;
    const line = text.slice(pos, nl);
    if (line.trim() !== '') {
      const decoded = decodeJournalLine(line);
      if ('damaged' in decoded) {
        const rest = text.slice(pos);
        const droppedLines = rest.split('\n').length - 1;
        return { records, goodBytes, damage: { line: lineNo, reason: decoded.damaged, droppedLines, charOffset: pos } };
      }
      records.push(decoded.record);
    }
    goodBytes += Buffer.byteLength(line, 'utf8') + 1;
    pos = nl + 1;
  }
  return { records, goodBytes };
}

/**
 * Entries in the journal of `runDir` (0 when there is none), without opening it for writing:
 * how much of an interrupted run is done, for the "resuming run X: N of M done" report.
 */
export function journaledEntries(runDir: string): number {
  let text: string;
  try {
    text = readJournalText(join(runDir, JOURNAL_FILE));
  } catch {
    return 0;
  }
  try {
    // Entries up to a damaged line, if any: those are what a resume replays.
    return parseJournal(text).records.filter((r) => (r as { type?: unknown }).type === 'entry').length;
  } catch {
    return 0; // damaged: opening it will say so
  }
}
