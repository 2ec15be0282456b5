/**
 * Atomic file writes: write a uniquely named temp file in the target's directory, fsync it,
 * rename it over the target, then fsync the directory. A reader (or a crash at any instant)
 * sees the old file or the new one, never a torn one. Temp files are named
 * `.NAME.<pid>.<random>.tmp`, so directory scans can recognise and skip (or clean) leftovers.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const TEMP_SUFFIX = '.tmp';

export function isTempFile(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX);
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
}

/** Write `data` to a fresh temp file next to `path` and fsync it; returns the temp path. */
async function writeTemp(path: string, data: string | Uint8Array): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  return tmp;
}

/** Replace `path` atomically (temp + fsync + rename + directory fsync). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = await writeTemp(path, data);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/**
 * Create `path` atomically, failing with EEXIST when it already exists: temp + fsync, then a
 * hard link to the target (link never replaces), then the temp file is removed.
 */
export async function writeFileExclusive(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = await writeTemp(path, data);
  try {
    await link(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  await syncDir(dirname(path));
}

/** Make a rename durable. Some platforms/filesystems refuse fsync on a directory: ignore that. */
async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // best effort
  } finally {
    await fh?.close().catch(() => {});
  }
}
