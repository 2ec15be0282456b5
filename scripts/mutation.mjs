#!/usr/bin/env node
// `npm run test:mutation [-- stryker options]`: Stryker with stryker.config.mjs.
//
// Stryker lives in tools/mutation/, with its own lock file, not in the package's
// devDependencies: it and its dependencies are 154 packages and 8,000 files, nearly half of what
// `npm ci` wrote, for a tool a whole run of which takes over an hour and that CI does not run.
// It is installed there on first use (and again when its lock file changes). Its vitest runner
// finds the repository's vitest up the directory tree (tools/mutation/.npmrc keeps npm from
// installing a second copy as a peer).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tools = join(root, 'tools', 'mutation');
const installed = join(tools, 'node_modules', '.package-lock.json');
const lock = join(tools, 'package-lock.json');

if (!existsSync(installed) || statSync(lock).mtimeMs > statSync(installed).mtimeMs) {
  process.stdout.write('--- installing Stryker into tools/mutation (first use)\n');
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: tools, stdio: 'inherit' });
  if (npm.status !== 0) process.exit(npm.status ?? 1);
}

const stryker = join(tools, 'node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js');
const run = spawnSync(process.execPath, [stryker, 'run', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
