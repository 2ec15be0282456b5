import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return path.endsWith('.ts') ? st.mtimeMs : 0;
  let max = 0;
  for (const f of readdirSync(path)) max = Math.max(max, newestMtime(join(path, f)));
  return max;
}

/**
 * Integration tests spawn `dist/cli.js`. `npm test` builds first; when a suite runs alone
 * (`npx vitest run test/wire`) and the wire sources are newer than the build, build here,
 * once, under a lock so parallel suites do not race.
 */
export function ensureBuilt(): void {
  const sources = ['src'].map((p) => join(ROOT, p));
  const stale = () => !existsSync(CLI) || Math.max(...sources.map(newestMtime)) > statSync(CLI).mtimeMs;
  if (!stale()) return;
  const lock = join(ROOT, 'dist', '.wire-build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() - started > 120_000) throw new Error('timed out waiting for the build lock');
      execFileSync('sleep', ['0.2']);
    }
  }
  try {
    if (!stale()) return;
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
        cwd: ROOT,
        stdio: 'pipe',
      });
    } catch {
      // Type errors elsewhere in the tree still emit JavaScript; the tests judge the result.
    }
  } finally {
    rmdirSync(lock);
  }
}
