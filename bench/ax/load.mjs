// Ax (@ax-llm/ax), the DSPy port for TypeScript, as a baseline for bench/dspy.bench.mjs.
// It is a dependency of this folder only (bench/ax/package.json + its lock), so `npm ci` at
// the root, for users and CI, never pulls it. On first use it is installed with
// `npm ci --prefix bench/ax --ignore-scripts` (its postinstall would write an editor skill into
// the home folder; the library itself needs no install step).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkgJson = join(here, 'node_modules', '@ax-llm', 'ax', 'package.json');

function lockedVersion() {
  const lock = JSON.parse(readFileSync(join(here, 'package-lock.json'), 'utf8'));
  return lock.packages['node_modules/@ax-llm/ax'].version;
}

function installedVersion() {
  return existsSync(pkgJson) ? JSON.parse(readFileSync(pkgJson, 'utf8')).version : undefined;
}

/** `{ ax, version }` (the module), or `{ error }` saying why Ax could not be loaded. */
export async function loadAx() {
  const want = lockedVersion();
  if (installedVersion() !== want) {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['ci', '--prefix', here, '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 300_000,
    });
    if (r.status !== 0) return { error: `npm ci --prefix bench/ax failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})` };
    if (installedVersion() !== want) return { error: `bench/ax: @ax-llm/ax ${want} is not installed after npm ci` };
  }
  // Resolved from this folder, so from bench/ax/node_modules.
  const ax = await import('@ax-llm/ax');
  return { ax, version: want };
}
