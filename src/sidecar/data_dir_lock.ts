import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileExclusive } from '../util/atomic_file.js';

/**
 * One sidecar per data directory: two processes appending to the same segment files would
 * interleave frames. `DIR/lock` holds the owner's pid; a lock whose pid is gone (kill -9) is
 * taken over. Throws when a live process holds it.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'lock');
  for (let attempt = 0; ; attempt++) {
    try {
      // Created with its pid already in it (temp file + link): a lock created with open('wx')
      // is empty until the pid is written, and a second sidecar starting at that instant would
      // read no pid, take it for stale, remove it and lock too.
      await writeFileExclusive(path, `${process.pid}\n`);
      return async () => {
        if ((await ownerOf(path)) === process.pid) await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
    }
    const pid = await ownerOf(path);
    if (pid !== undefined && pid !== process.pid && alive(pid)) {
      throw new Error(`data directory ${dir} is in use by another sidecar (pid ${pid}); give each sidecar its own --data-dir`);
    }
    await rm(path, { force: true }); // stale: its owner is gone
  }
}

async function ownerOf(path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt(await readFile(path, 'utf8'), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
