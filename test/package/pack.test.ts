/**
 * The npm package as a user gets it: `npm pack`, installed into a fresh project, and every
 * example under examples/node run there (they import from 'elexirion', never from dist/).
 * Uses dist/ as `npm test` just built it.
 *
 * Installed by hand rather than by `npm install`: the tarball is unpacked into
 * node_modules/elexirion and each dependency its package.json declares is linked to this
 * repository's copy (the versions the lock file resolved, which an offline install picks too).
 * A file missing from the package or an undeclared dependency still fails here, and the
 * install costs nothing, where npm spent 8 s of CPU writing the SDKs' thousands of files.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const examples = join(root, 'examples/node');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'elexirion-pack-'));
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], { cwd: root, encoding: 'utf8' });
  const filename = (JSON.parse(out) as Array<{ filename: string }>)[0]?.filename as string;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, type: 'module' }));
  const installed = join(dir, 'node_modules', 'elexirion');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(dir, filename), '-C', installed, '--strip-components=1']);
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(manifest.dependencies ?? {})) {
    const link = join(dir, 'node_modules', dep);
    mkdirSync(dirname(link), { recursive: true }); // scoped names
    symlinkSync(join(root, 'node_modules', dep), link, 'dir');
  }
  for (const f of readdirSync(examples)) if (f.endsWith('.mjs')) copyFileSync(join(examples, f), join(dir, f));
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (file: string) => {
  const env: NodeJS.ProcessEnv = { ...process.env, ELEXIRION_LOG_LEVEL: 'error' };
  delete env.LM; // the examples run offline
  delete env.ANTHROPIC_API_KEY;
  return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', env });
};

describe('the packed package', () => {
  it('exports the library at the root and the sidecar at elexirion/sidecar, with types', () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "const m = await import('elexirion'); const s = await import('elexirion/sidecar'); console.log([typeof m.Predict, typeof m.ChainOfThought, typeof m.BootstrapFewShot, typeof m.Evaluate, typeof m.GEPA, typeof m.parseLMSpec, typeof m.saveProgram, typeof s.startSidecar].join(','))"],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('function,function,function,function,function,function,function,function');
    const files = readdirSync(join(dir, 'node_modules/elexirion/dist'));
    expect(files).toContain('index.d.ts');
  });

  it('runs every example under examples/node', () => {
    expect(run('predict.mjs')).toMatch(/^answer: Paris$/m);
    expect(run('evaluate.mjs')).toMatch(/^score: 100 on 3 examples$/m);
    expect(run('bootstrap.mjs')).toMatch(/^demos: 2; LM calls: \d+$/m);
    expect(run('mipro.mjs')).toMatch(/^baseline \d+(\.\d+)? -> best \d+(\.\d+)? in \d+ trials$/m);
    expect(run('stream.mjs')).toMatch(/^streamed: Paris in 1 piece\(s\); prediction: Paris$/m);
    const covered = ['predict.mjs', 'evaluate.mjs', 'bootstrap.mjs', 'mipro.mjs', 'stream.mjs'];
    expect(readdirSync(examples).filter((f) => f.endsWith('.mjs')).sort()).toEqual(covered.sort());
  });
});
