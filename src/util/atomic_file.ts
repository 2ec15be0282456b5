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
 *
 * Confinement (`{ root }`): the output folder is the user's, and a path text that stays inside
 * it proves nothing when one of its folders is a symlink to somewhere else. So writes given a
 * root create the destination's folders one at a time, refusing any component that is a
 * symlink resolving outside the root (or is not a folder), and check the real path of the
 * destination folder again right before the rename: at write time, not only when a run starts.
 * Temp files are created with O_EXCL (never through an existing file or link).
 */
import { ElexirionError } from '../errors.js';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, promises as fsp, realpathSync, statSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

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

/** A destination outside its output folder once symlinks are resolved (answered -32012). */
export class ConfinementError extends ElexirionError {
  override readonly code: string = 'CONFINEMENT_ERROR';
  override readonly name = 'ConfinementError';
  constructor(
    message: string,
    readonly path: string,
    readonly root: string,
  ) {
    super(message);
  }
}

function isInside(realRoot: string, real: string): boolean {
  return real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** The parts of `dir` below `root`, refused when the text already leaves it. */
function partsBelow(root: string, dir: string): string[] {
  const rel = relative(resolve(root), resolve(dir));
  if (rel === '') return [];
  if (rel.split(sep)[0] === '..' || isAbsolute(rel)) {
    throw new ConfinementError(`refusing to write to ${dir}: it is outside the output folder ${root}`, dir, root);
  }
  return rel.split(sep);
}

function escapeError(root: string, at: string, real: string, target: string): ConfinementError {
  return new ConfinementError(
    `refusing to write to ${target}: ${at} is a symlink to ${real}, outside the output folder ${root}`,
    target,
    root,
  );
}

/** What an existing path component is: a link (and where it leads), a directory, or neither. */
function resolveComponent(cur: string, st: Stats): { link: boolean; real: string; isDir: boolean } {
  if (!st.isSymbolicLink()) return { link: false, real: cur, isDir: st.isDirectory() };
  try {
    return { link: true, real: realpathSync(cur), isDir: statSync(cur).isDirectory() };
  } catch {
    return { link: true, real: cur, isDir: false }; // a dangling link
  }
}

/**
 * One existing component of the destination: `real` is where it leads and `isDir` whether
 * that is a folder. A symlink is fine only when it leads inside the root.
 */
function checkComponent(isLink: boolean, isDir: boolean, cur: string, real: string, realRoot: string, root: string, target: string): void {
  if (isLink && !isInside(realRoot, real)) throw escapeError(root, cur, real, target);
  if (!isDir) throw new ConfinementError(`refusing to write to ${target}: ${cur} is not a folder`, target, root);
}

/**
 * `mkdir -p dir` below `root`, component by component, refusing a symlink component that
 * leads outside `root` (before anything is created through it). The root itself may be a
 * symlink: it is the user's choice of output folder. Synchronous: it is a handful of lstat
 * calls, and the run journal (synchronous) needs it too.
 */
export function mkdirConfinedSync(root: string, dir: string): void {
  const parts = partsBelow(root, dir);
  const base = resolve(root);
  mkdirSync(base, { recursive: true });
  const realRoot = realpathSync(base);
  let cur = base;
  for (const part of parts) {
    cur = join(cur, part);
    for (;;) {
      let st: Stats;
      try {
        st = lstatSync(cur);
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
        try {
          mkdirSync(cur);
        } catch (e) {
          if (errCode(e) !== 'EEXIST') throw e;
        }
        continue;
      }
      const { link, real, isDir } = resolveComponent(cur, st);
      checkComponent(link, isDir, cur, real, realRoot, root, dir);
      break;
    }
  }
  const real = realpathSync(dir);
  if (!isInside(realRoot, real)) throw escapeError(root, dir, real, dir);
}

/**
 * Checks, without creating anything, that the existing part of the path to `target` below
 * `root` holds no symlink leading outside `root`: what a run verifies before its first LM call,
 * so a planted link fails the run up front rather than after the spending (writes check again).
 */
export function assertConfinedSync(root: string, target: string): void {
  const parts = partsBelow(root, target);
  const base = resolve(root);
  let realRoot: string;
  try {
    realRoot = realpathSync(base);
  } catch {
    return; // the output folder does not exist yet: nothing below it can be a link
  }
  let cur = base;
  for (const part of parts) {
    cur = join(cur, part);
    let st: Stats;
    try {
      st = lstatSync(cur);
    } catch {
      return; // the rest will be created by the write, component by component
    }
    const { link, real, isDir } = resolveComponent(cur, st);
    if (cur === resolve(target) && !link && !isDir) return; // the file itself: replaced by rename
    checkComponent(link, isDir, cur, real, realRoot, root, target);
  }
}

/** Refuses when the real path of `dir` (an existing folder) is not inside the real `root`. */
export async function assertRealInside(root: string, dir: string): Promise<void> {
  const realRoot = await fsp.realpath(resolve(root));
  const real = await fsp.realpath(dir);
  if (!isInside(realRoot, real)) throw escapeError(root, dir, real, dir);
}

export interface ConfinedWriteOptions {
  /** The output folder the destination must stay inside, symlinks resolved. */
  root?: string;
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
async function writeTemp(path: string, data: string | Uint8Array, opts: ConfinedWriteOptions): Promise<string> {
  if (opts.root !== undefined) mkdirConfinedSync(opts.root, dirname(path));
  else await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  // 'wx' = O_CREAT | O_EXCL: never opens an existing file, nor follows a planted symlink.
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
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: ConfinedWriteOptions = {}): Promise<void> {
  const tmp = await writeTemp(path, data, opts);
  try {
    // At write time: a folder swapped for a symlink since the temp file was made is refused.
    if (opts.root !== undefined) await assertRealInside(opts.root, dirname(path));
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
export async function writeFileExclusive(path: string, data: string | Uint8Array, opts: ConfinedWriteOptions = {}): Promise<void> {
  const tmp = await writeTemp(path, data, opts);
  try {
    if (opts.root !== undefined) await assertRealInside(opts.root, dirname(path));
    await fsp.link(tmp, path);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
  await fsyncDir(dirname(path));
}

/** `writeFileAtomic` of pretty JSON with a final newline. */
export async function writeJsonAtomic(path: string, value: unknown, opts: ConfinedWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', opts);
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
