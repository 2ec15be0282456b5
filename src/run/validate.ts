/**
 * Checks a run can do before it spends anything: every one of them would otherwise fail after
 * the whole optimization had been paid for (an output name that cannot be written, an option
 * misspelled, a dollar cap on a model without a price).
 */
import { assertConfinedSync } from '../util/atomic_file.js';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LM } from '../lm/types.js';
import { createOptimizer, OPTIMIZER_NAMES, type AnyOptimizer } from '../optimizers/factory.js';
import { UnsafePathError } from '../pipeline/errors.js';
import { optimizedPaths, type OptimizedPaths } from '../pipeline/output.js';
import { RunParamsError } from './errors.js';
import { canEstimate, ESTIMATING_OPTIMIZERS } from './optimizer_names.js';

/** Longest output name: `NAME.yaml` must stay a legal file name (255 bytes) with room to spare. */
export const MAX_NAME_BYTES = 200;

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A run id becomes a directory name: keep it to a safe alphabet. */
export function checkRunId(runId: string): string {
  if (!RUN_ID.test(runId)) {
    throw new RunParamsError([{ path: ['runId'], message: 'must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit' }]);
  }
  return runId;
}

/**
 * Where the outputs of `name` go under `outDir`; refused now if they could not be written,
 * including when a folder on the way (or the run directory `runDir`) is a symlink leading
 * outside `outDir`.
 */
export function checkOutputs(outDir: string, name: string, runDir?: string): OptimizedPaths {
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
    throw new UnsafePathError(`refusing output name of ${Buffer.byteLength(name, 'utf8')} bytes: name must be at most ${MAX_NAME_BYTES} bytes`);
  }
  const paths = optimizedPaths(outDir, name); // refuses separators, "..", dots, control characters
  let st;
  try {
    st = statSync(outDir);
  } catch {
    return paths; // created when written
  }
  if (!st.isDirectory()) throw new UnsafePathError(`outDir ${outDir} exists and is not a directory`);
  for (const target of [paths.yamlPath, paths.programPath, ...(runDir ? [runDir] : [])]) assertConfinedSync(outDir, target);
  return paths;
}

export function resolveOutDir(outDir: string | undefined, cwd: string): string {
  return resolve(cwd, outDir ?? '.');
}

export function runDirOf(outDir: string, runId: string): string {
  return join(outDir, '.elexirion', 'runs', runId);
}

/**
 * The optimizer by name with its options validated; issues name `optimizer.options.X`. `lm` is
 * the run's LM (MIPROv2's proposer, GEPA's reflection LM unless `reflectionLm` is given).
 */
export function checkOptimizer(name: string, options: Record<string, unknown>, lm: LM, reflectionLm?: LM): AnyOptimizer {
  if (!(OPTIMIZER_NAMES as string[]).includes(name)) {
    throw new RunParamsError([{ path: ['optimizer', 'name'], message: `unknown optimizer ${JSON.stringify(name)}; known: ${OPTIMIZER_NAMES.join(', ')}` }]);
  }
  if (options.dryRun === true && !canEstimate(name)) {
    throw new RunParamsError([
      {
        path: ['optimizer', 'options', 'dryRun'],
        message: `${name} cannot estimate a run without spending; a dry run is available for ${ESTIMATING_OPTIMIZERS.join(', ')}`,
      },
    ]);
  }
  if (reflectionLm && name !== 'GEPA') {
    throw new RunParamsError([{ path: ['reflectionLm'], message: `only GEPA uses a reflection LM; ${name} would ignore it` }]);
  }
  // The option schemas do not know dryRun for the optimizers that cannot estimate (refused above).
  try {
    return createOptimizer(name, options, { promptModel: lm, taskModel: lm, ...(reflectionLm ? { reflectionModel: reflectionLm } : {}) });
  } catch (err) {
    const issues = (err as { issues?: Array<{ path: PropertyKey[]; message: string }> }).issues;
    if (!issues) throw new RunParamsError([{ path: ['optimizer', 'options'], message: (err as Error).message }]);
    throw new RunParamsError(
      issues.map((i) => ({ path: ['optimizer', 'options', ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))], message: i.message })),
    );
  }
}

interface PricedLM {
  inner?: { model?: string; provider?: string; billable?: boolean };
  prices?: { lookup(model: string): unknown };
}

/** A dollar cap on a model the price table does not know cannot be enforced: refuse it now. */
export function checkBudget(budget: { maxUsd?: number | undefined } | undefined, lm: LM): void {
  if (budget?.maxUsd === undefined) return;
  const m = lm as LM & PricedLM;
  if (!m.inner || !m.prices) return; // not a managed LM: its owner meters it
  const billable = m.inner.billable ?? m.inner.provider !== 'dummy';
  if (billable && m.inner.model !== undefined && !m.prices.lookup(m.inner.model)) {
    throw new RunParamsError([
      {
        path: ['budget', 'maxUsd'],
        message: `model ${m.inner.model} has no price, so a USD budget cannot be enforced on it: add its price (ELEXIRION_PRICES) or cap the run with maxCalls/maxTokens`,
      },
    ]);
  }
}
