import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optimizeRun, RunParamsError } from '../../src/run/index.js';
import { UnsafePathError } from '../../src/pipeline/errors.js';
import { ConfinementError } from '../../src/util/atomic_file.js';
import { codeAnalysisParams, inProcessHost } from './helpers.js';

// Everything that can be checked is checked before the first execution or LM call: these
// would otherwise fail after the whole run had been paid for.
describe('a run validates before it spends', () => {
  const refused = async (extra: Parameters<typeof codeAnalysisParams>[0]) => {
    const host = inProcessHost();
    const params = codeAnalysisParams(extra);
    const err = await optimizeRun(params, host).catch((e: unknown) => e);
    expect(host.executions).toBe(0);
    expect(existsSync(join(params.outDir!, '.elexirion'))).toBe(false);
    return err as Error & { issues?: Array<{ path: unknown[]; message: string }> };
  };

  it('refuses an output name that escapes the output directory or is too long', async () => {
    expect(await refused({ name: '../x' })).toBeInstanceOf(UnsafePathError);
    const long = await refused({ name: 'n'.repeat(300) });
    expect(long).toBeInstanceOf(UnsafePathError);
    expect(long.message).toMatch(/at most 200 bytes/);
  });

  it('refuses a misspelled optimizer option, naming it', async () => {
    const err = await refused({ optimizer: { name: 'BootstrapFewShot', options: { maxBootstrapedDemos: 2 } } });
    expect(err).toBeInstanceOf(RunParamsError);
    expect(err.issues?.[0]?.path).toEqual(['optimizer', 'options']);
    expect(err.message).toMatch(/maxBootstrapedDemos/);
  });

  it('refuses a dry run of an optimizer that cannot estimate, naming the optimizer', async () => {
    const err = await refused({ optimizer: { name: 'random_search', options: { dryRun: true } } });
    expect(err.issues?.[0]?.path).toEqual(['optimizer', 'options', 'dryRun']);
    expect(err.message).toMatch(/BootstrapFewShotWithRandomSearch cannot estimate a run.*MIPROv2/);
  });

  it('refuses a USD budget on a model the price table does not know', async () => {
    const err = await refused({ lm: 'openai:http://127.0.0.1:9/v1#no-such-model', budget: { maxUsd: 1 } });
    expect(err).toBeInstanceOf(RunParamsError);
    expect(err.issues?.[0]?.path).toEqual(['budget', 'maxUsd']);
    expect(err.message).toMatch(/no-such-model has no price/);
  });

  it('refuses a run directory, or an output folder, that a symlink leads outside the output directory', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'elsewhere-'));
    const host = inProcessHost();
    const params = codeAnalysisParams({ runId: 'linked' });
    mkdirSync(join(params.outDir!, '.elexirion'));
    symlinkSync(elsewhere, join(params.outDir!, '.elexirion', 'runs'));
    const err = await optimizeRun(params, host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfinementError);
    expect(host.executions).toBe(0);
    expect(readdirSync(elsewhere)).toEqual([]);

    const out = codeAnalysisParams({ runId: 'linked2' });
    symlinkSync(elsewhere, join(out.outDir!, 'optimized_modules'));
    const err2 = await optimizeRun(out, host).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(ConfinementError);
    expect(host.executions).toBe(0);
  });

  it('refuses an unsafe run id', async () => {
    const err = await refused({ runId: '../../etc' });
    expect(err.issues?.[0]?.path).toEqual(['runId']);
  });
});

describe('a run without examples', () => {
  it('is refused naming trainingData', async () => {
    const { RunInputError } = await import('../../src/run/index.js');
    const host = inProcessHost();
    const err = await optimizeRun(codeAnalysisParams({ trainingData: { examples: [] } }), host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunInputError);
    expect(err).toMatchObject({ field: 'trainingData' });
    expect(host.executions).toBe(0);
  });
});
