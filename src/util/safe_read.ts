/**
 * Reading an input file without trusting it. `readFile` on a FIFO blocks a libuv threadpool
 * thread forever (and with it the process's exit, which waits for that pool); on `/dev/zero`
 * it grows until memory runs out; on a directory it fails with a bare EISDIR. So every input
 * file is looked at before it is opened: it must be a regular file (a symlink to one is fine)
 * within its size limit. It is then opened with O_NONBLOCK (a FIFO swapped in after the check
 * cannot block the open), checked again through the descriptor (same file, still regular),
 * read to at most its limit, and decoded as strict UTF-8. Every refusal is an
 * `InputRefusedError` (-32012) naming the path.
 */
import { constants, promises as fsp, type Stats } from 'node:fs';
import { checkLimit, InputRefusedError, limits, type LimitName } from './limits.js';

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? ((err as { code?: unknown }).code as string | undefined) : undefined;
}

/** A refusal for an fs error that means "this path is not something we can read". */
function refusalFor(err: unknown, path: string, subject: string): InputRefusedError | undefined {
  const code = errnoCode(err);
  if (code === 'ENOENT') return new InputRefusedError(`${subject} ${path} does not exist`, { path, kind: 'missing' });
  if (code === 'ENOTDIR') {
    return new InputRefusedError(`${subject} ${path} cannot be read: a component of the path is a file where a folder is expected`, {
      path,
      kind: 'not-a-directory',
    });
  }
  if (code === 'EACCES' || code === 'EPERM') return new InputRefusedError(`${subject} ${path} cannot be read: permission denied`, { path, kind: 'permission' });
  if (code === 'ELOOP') return new InputRefusedError(`${subject} ${path} cannot be read: too many symbolic links`, { path, kind: 'symlink-loop' });
  if (code === 'EISDIR') return new InputRefusedError(`${subject} ${path} is a directory, not a file`, { path, kind: 'a directory' });
  return undefined;
}

/** `stat`, with path errors turned into refusals. */
export async function statInput(path: string, subject: string): Promise<Stats> {
  try {
    return await fsp.stat(path);
  } catch (err) {
    throw refusalFor(err, path, subject) ?? err;
  }
}

/** Offset of the first byte that is not valid UTF-8, or -1 when all of it is. */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const b = buf[i]!;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min, cp] = [1, 0x80, b & 0x1f];
    else if (b >= 0xe0 && b <= 0xef) [need, min, cp] = [2, 0x800, b & 0x0f];
    else if (b >= 0xf0 && b <= 0xf4) [need, min, cp] = [3, 0x10000, b & 0x07];
    else return i;
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 text of `buf`; refused with the byte offset of the first bad byte. */
export function decodeUtf8(buf: Uint8Array, path: string, subject: string): string {
  try {
    return STRICT_UTF8.decode(buf);
  } catch {
    const offset = Math.max(0, firstInvalidUtf8(buf));
    throw new InputRefusedError(`${subject} ${path} is not valid UTF-8: bad byte at offset ${offset}`, { path, offset, kind: 'not-utf8' });
  }
}

export interface ReadInputOptions {
  /** The size limit that applies (see limits.ts). */
  limit: LimitName;
  /** How the file is named in errors, e.g. "pipeline file", "training example file". */
  subject: string;
}

/**
 * Reads an input file as strict UTF-8 text, refusing (before opening it) anything that is not
 * a regular file or is over its size limit. See the module comment.
 */
export async function readInputText(path: string, opts: ReadInputOptions): Promise<string> {
  return decodeUtf8(await readInputBytes(path, opts), path, opts.subject);
}

/** `readInputText` without the decoding. */
export async function readInputBytes(path: string, opts: ReadInputOptions): Promise<Buffer> {
  const { subject } = opts;
  const before = await statInput(path, subject);
  if (!before.isFile()) {
    throw new InputRefusedError(`${subject} ${path} is ${kindOf(before)}, not a regular file: refused`, { path, kind: kindOf(before) });
  }
  checkLimit(opts.limit, before.size, `${subject} ${path}`, path);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw refusalFor(err, path, subject) ?? err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) {
      throw new InputRefusedError(`${subject} ${path} changed while it was being opened (now ${kindOf(st)}): refused`, { path, kind: 'changed' });
    }
    // Read to the limit + 1 byte: a file that grew since the stat is still caught.
    const max = limits()[opts.limit];
    const cap = Math.min(max + 1, Math.max(st.size, 0) + 1);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const want = Math.max(64 * 1024, cap - total);
      const buf = Buffer.allocUnsafe(Math.min(want, max + 1 - total));
      if (buf.length === 0) break;
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > max) break;
    }
    checkLimit(opts.limit, total, `${subject} ${path}`, path);
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  } finally {
    await fh.close().catch(() => {});
  }
}
