// Atomic small-file writes (temp file + fsync + rename + directory fsync) and a durable JSONL
// append. Used for every piece of state that must survive a crash whole or not at all.
import { promises as fsp } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';

export async function fsyncDir(dir: string): Promise<void> {
  // Directory fsync makes a rename/creation durable. Some filesystems refuse it: best effort.
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    /* not supported here */
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** Replaces `path` with `data` atomically: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Reads a JSON file; `undefined` when it does not exist. Parse errors propagate. */
export async function readJsonIfExists(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text);
}

/** Appends one line and fsyncs before resolving (the ledger and dedup logs use this). */
export async function appendLineDurable(path: string, line: string): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const fh = await fsp.open(path, 'a');
  try {
    await fh.write(line.endsWith('\n') ? line : line + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Reads a JSONL file written by `appendLineDurable`. A final line without its newline is a torn
 * append (the crash happened mid-write) and is ignored; any other bad line throws.
 */
export async function readJsonLines(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  const complete = lines.slice(0, -1); // the piece after the last '\n' is '' or torn
  const out: unknown[] = [];
  complete.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line));
    } catch {
      throw new Error(`${path}: line ${i + 1} is not valid JSON`);
    }
  });
  return out;
}
