/**
 * Crash-safe file writes, one copy for the whole tree.
 *
 * `writeFileAtomic`: write a uniquely named temp file in the target's directory, fsync it,
 * rename it over the target, then fsync the directory. A reader (or a crash at any instant)
 * sees the old file or the new one, never a torn one. Temp files are named
 * `.NAME.<pid>.<random>.tmp`, so directory scans can recognise and skip (or clean) leftovers
 * with `isTempFile`.
 *
 * `appendLineDurable` / `readJsonLines`: append + fsync for logs; a torn last line (a crash
 * mid-append) is ignored on read and cut before the next append.
 */
import { closeSync, fsyncSync, openSync, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export const TEMP_SUFFIX = '.tmp';

/** Our temp-file names: `.NAME.<pid>.<8 hex>.tmp` (see `tempPathFor`). */
const OWN_TEMP_NAME = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/;

/**
 * True for the name (not path) of a temp file written by `writeFileAtomic`/`writeFileExclusive`
 * (pattern `.NAME.<pid>.<8 hex>.tmp`). A user's `.notes.tmp` is not one: scans skip ours only,
 * and nothing but the writing process ever removes one.
 */
export function isTempFile(name: string): boolean {
  return OWN_TEMP_NAME.test(name);
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
}

/** Makes a rename/creation durable. Some filesystems refuse fsync on a directory: best effort. */
export async function fsyncDir(dir: string): Promise<void> {
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

/** Synchronous `fsyncDir` (for code that creates files synchronously, e.g. the run journal). */
export function fsyncDirSync(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* not supported here */
  }
}

/** Writes `data` to a fresh temp file next to `path` and fsyncs it; returns the temp path. */
async function writeTemp(path: string, data: string | Uint8Array): Promise<string> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const fh = await fsp.open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  return tmp;
}

/** Replaces `path` with `data` atomically (temp + fsync + rename + directory fsync). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = await writeTemp(path, data);
  try {
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}

/**
 * Creates `path` atomically, failing with EEXIST when it already exists: temp + fsync, then a
 * hard link to the target (link never replaces), then the temp file is removed.
 */
export async function writeFileExclusive(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = await writeTemp(path, data);
  try {
    await fsp.link(tmp, path);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
  await fsyncDir(dirname(path));
}

/** `writeFileAtomic` of pretty JSON with a final newline. */
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

/** Paths whose torn tail (if any) this process already cut: see `appendLineDurable`. */
const tailChecked = new Map<string, Promise<void>>();

/**
 * Cuts a torn last line (bytes after the last '\n', left by a crash mid-append) so the next
 * append does not glue a complete line onto it: the glued line would be invalid JSON in the
 * middle of the file, and `readJsonLines` would refuse the whole file from then on.
 */
async function cutTornTail(fh: fsp.FileHandle): Promise<void> {
  const { size } = await fh.stat();
  if (size === 0) return;
  const CHUNK = 64 * 1024;
  const buf = Buffer.allocUnsafe(CHUNK);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (nl >= 0) {
      const keep = start + nl + 1;
      if (keep < size) await fh.truncate(keep);
      return;
    }
    end = start;
  }
  await fh.truncate(0); // a single torn line and nothing else
}

/**
 * Appends one line (a newline is added when missing) and fsyncs before resolving (plus the
 * directory when the file is new). The first append to a path in this process first cuts a
 * torn tail left by a crash (the only writer of a path is this process: callers serialize
 * their appends, and the data directory is locked).
 */
export async function appendLineDurable(path: string, line: string): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const created = await fsp.access(path).then(
    () => false,
    () => true,
  );
  const fh = await fsp.open(path, 'a+');
  try {
    let check = tailChecked.get(path);
    if (!check) {
      check = cutTornTail(fh);
      tailChecked.set(path, check);
      check.catch(() => tailChecked.delete(path));
    }
    await check;
    await fh.write(line.endsWith('\n') ? line : line + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (created) await fsyncDir(dirname(path));
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
