/**
 * The npm package as a user gets it: `npm pack`, installed into a fresh project, and every
 * example under examples/node run there (they import from 'elexirion', never from dist/).
 * Uses dist/ as `npm test` just built it; installs dependencies from the local npm cache first.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const examples = join(root, 'examples/node');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'elexirion-pack-'));
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], { cwd: root, encoding: 'utf8' });
  const filename = (JSON.parse(out) as Array<{ filename: string }>)[0]?.filename as string;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, filename)], { cwd: dir, stdio: 'pipe' });
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
