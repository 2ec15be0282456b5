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
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirSync } from '../util/atomic_file.js';

export const JOURNAL_FILE = 'journal.jsonl';
export const JOURNAL_FORMAT = 1;

export class JournalConfigMismatchError extends Error {
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

export class JournalCorruptError extends Error {
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
}

export class RunJournal {
  private readonly entries = new Map<string, unknown>();
  private fd: number | undefined;
  private readonly readBack = new Set<string>();
  private readonly appendedKeys = new Set<string>();
  private appendedCount = 0;
  /** Records read back from disk when the journal was opened (0 for a fresh run). */
  readonly replayable: number;

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
    mkdirSync(runDir, { recursive: true });
    const path = join(runDir, JOURNAL_FILE);
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const { records, goodBytes } = parseJournal(text, path);
    if (goodBytes < Buffer.byteLength(text, 'utf8')) {
      // A torn last line (crash mid-append): drop it so the next append starts a clean line.
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
    journal.fd = openSync(path, 'a');
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
    const buf = Buffer.from(JSON.stringify(record) + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    fsyncSync(this.fd);
  }
}

function parseJournal(text: string, path: string): { records: unknown[]; goodBytes: number } {
  const records: unknown[] = [];
  let goodBytes = 0;
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const line = nl === -1 ? text.slice(pos) : text.slice(pos, nl);
    const isLast = nl === -1 || nl === text.length - 1;
    if (nl === -1) break; // no newline: a torn append, ignored
    let rec: unknown;
    try {
      rec = line.trim() === '' ? undefined : JSON.parse(line);
    } catch {
      if (isLast) break; // a complete but garbled last line: also a torn write
      throw new JournalCorruptError(`${path}: line ${records.length + 1} is not valid JSON; the journal is damaged`);
    }
    if (rec !== undefined) records.push(rec);
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
    text = readFileSync(join(runDir, JOURNAL_FILE), 'utf8');
  } catch {
    return 0;
  }
  try {
    return parseJournal(text, runDir).records.filter((r) => (r as { type?: unknown }).type === 'entry').length;
  } catch {
    return 0; // damaged: opening it will say so
  }
}
