import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { CLI, ensureBuilt, ROOT } from '../support/build.js';

beforeAll(() => ensureBuilt());
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 });

it('prints the package version, help, and refuses bad arguments', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(run('--version').stdout.trim()).toBe(pkg.version);
  const help = run('--help');
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('serve');
  expect(run('serve', '--help').stdout).toContain('--max-frame-bytes');
  const bad = run('serve', '--framing', 'xml');
  expect(bad.status).toBe(2);
  expect(bad.stdout).toBe('');
  expect(run('serve', '--bogus').status).toBe(2);
  expect(run('nope').status).toBe(2);
  expect(readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
});
