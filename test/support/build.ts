import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');

let checked = false;

/**
 * Integration tests spawn `dist/cli.js`. `npm test` builds first; when a suite runs alone
 * (`npx vitest run test/wire`) and src/ is newer than the build, `scripts/build.mjs --if-stale`
 * builds it, under a lock so parallel suites do not race. Checked once per vitest worker: the
 * files a worker runs share this module (vitest.config.ts, `isolate: false`).
 */
export function ensureBuilt(): void {
  if (checked) return;
  try {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'pipe' });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`dist/ could not be built: ${String(e.stdout ?? '')}${String(e.stderr ?? '')}`);
  }
  checked = true;
}
