import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeOptimized } from '../../src/pipeline/output.js';
import { RunJournal } from '../../src/optimizers/journal.js';
import { writeFileAtomic } from '../../src/util/atomic_file.js';

// Issue #12, break 2: the output folder's confinement checked the path text only, so a
// folder on the way that is a symlink to elsewhere received the YAML, journal and program.
const CONFIG = {
  workflow: { name: 'w', steps: [{ name: 's', type: 'claude', prompt: [{ type: 'static', content: 'hi' }] }] },
};

let tmp: string;
let out: string;
let elsewhere: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'confine-'));
  out = join(tmp, 'out');
  elsewhere = join(tmp, 'elsewhere');
  mkdirSync(out);
  mkdirSync(elsewhere);
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('writes confined to the output folder by real path', () => {
  it('refuses out/pipelines/optimized as a symlink to another folder, writing nothing there', async () => {
    mkdirSync(join(out, 'pipelines'));
    symlinkSync(elsewhere, join(out, 'pipelines', 'optimized'));
    await expect(writeOptimized(out, 'w', CONFIG, {})).rejects.toMatchObject({ name: 'ConfinementError', message: expect.stringMatching(/symlink to .*elsewhere, outside the output folder/) });
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('refuses out/pipelines as a symlink before creating anything through it', async () => {
    symlinkSync(elsewhere, join(out, 'pipelines'));
    await expect(writeOptimized(out, 'w', CONFIG, {})).rejects.toMatchObject({ name: 'ConfinementError' });
    expect(readdirSync(elsewhere)).toEqual([]); // not even the `optimized` folder
  });

  it('checks at every write, not once: a folder swapped for a symlink after a first write is refused', async () => {
    await writeOptimized(out, 'w', CONFIG, {});
    rmSync(join(out, 'optimized_modules'), { recursive: true });
    symlinkSync(elsewhere, join(out, 'optimized_modules'));
    await expect(writeOptimized(out, 'w', CONFIG, {})).rejects.toMatchObject({ name: 'ConfinementError' });
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('allows symlinks that stay inside the output folder, and an output folder that is itself a link', async () => {
    mkdirSync(join(out, 'real_pipelines'));
    symlinkSync(join(out, 'real_pipelines'), join(out, 'pipelines'));
    const linkedOut = join(tmp, 'out-link');
    symlinkSync(out, linkedOut);
    const paths = await writeOptimized(linkedOut, 'w', CONFIG, {});
    expect(existsSync(join(out, 'real_pipelines', 'optimized', 'w.yaml'))).toBe(true);
    expect(paths.programPath).toBe(join(linkedOut, 'optimized_modules', 'w.json'));
  });

  it('refuses a run folder under out/.elexirion/runs when runs is a symlink: no journal written elsewhere', () => {
    mkdirSync(join(out, '.elexirion'));
    symlinkSync(elsewhere, join(out, '.elexirion', 'runs'));
    expect(() => RunJournal.open(join(out, '.elexirion', 'runs', 'r1'), { optimizer: 'X', configHash: 'h', root: out })).toThrow(
      expect.objectContaining({ name: 'ConfinementError' }),
    );
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('never writes through a journal file that is a symlink', () => {
    const runDir = join(out, 'run');
    mkdirSync(runDir);
    writeFileSync(join(elsewhere, 'target'), '');
    symlinkSync(join(elsewhere, 'target'), join(runDir, 'journal.jsonl'));
    expect(() => RunJournal.open(runDir, { optimizer: 'X', configHash: 'h', root: out })).toThrow(/symbolic link/);
  });

  it('is not fooled by a sibling folder whose name starts with the output folder\'s', async () => {
    const sibling = `${out}-evil`;
    mkdirSync(sibling);
    symlinkSync(sibling, join(out, 'optimized_modules'));
    await expect(writeOptimized(out, 'w', CONFIG, {})).rejects.toMatchObject({ name: 'ConfinementError' });
    expect(readdirSync(sibling)).toEqual([]);
  });

  it('writeFileAtomic with a root refuses a path that leaves it by its text', async () => {
    await expect(writeFileAtomic(join(out, '..', 'x.txt'), 'x', { root: out })).rejects.toMatchObject({ name: 'ConfinementError' });
    expect(existsSync(join(tmp, 'x.txt'))).toBe(false);
  });
});
