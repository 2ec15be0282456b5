/**
 * Writing the results of an optimization: the optimized pipeline_ex YAML at
 * `OUT/pipelines/optimized/NAME.yaml` and the program JSON (saveProgram's DSPy-shaped JSON) at
 * `OUT/optimized_modules/NAME.json`. Both writes are atomic; the source config file is never
 * opened for writing (the config is written only to the output paths); the config's keys,
 * order and content are dumped as given.
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../util/atomic_file.js';
import { UnsafePathError } from './errors.js';
import { dumpPipeline, parsePipeline } from './model.js';

/**
 * Refuse names that could land outside the output directory or are not plain file names:
 * empty, `.`/`..`, absolute, containing `/` or `\`, NUL or other control characters, or a
 * leading dot (hidden / temp-file names).
 */
export function assertSafeName(name: string): void {
  let why: string | undefined;
  if (typeof name !== 'string' || name.trim() === '') why = 'it is empty';
  else if (isAbsolute(name) || /^[A-Za-z]:/.test(name)) why = 'it is an absolute path';
  else if (/[/\\]/.test(name)) why = 'it contains a path separator';
  else if (name.startsWith('.')) why = 'it starts with a dot';
  else if (/[\u0000-\u001f\u007f]/.test(name)) why = 'it contains control characters';
  if (why !== undefined) {
    throw new UnsafePathError(
      `refusing output name ${JSON.stringify(name)}: ${why}; use a plain file name such as "code_analysis" (no directories, no "..")`,
    );
  }
}

/** `resolve(root, ...parts)`, refused unless it stays inside `root`. */
export function confinedPath(root: string, ...parts: string[]): string {
  const base = resolve(root);
  const full = resolve(base, ...parts);
  const rel = relative(base, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new UnsafePathError(`refusing path ${JSON.stringify(parts.join('/'))}: it escapes the output directory ${base}`);
  }
  return full;
}

export interface OptimizedPaths {
  yamlPath: string;
  programPath: string;
}

export function optimizedPaths(outDir: string, name: string): OptimizedPaths {
  assertSafeName(name);
  return {
    yamlPath: confinedPath(outDir, 'pipelines', 'optimized', `${name}.yaml`),
    programPath: confinedPath(outDir, 'optimized_modules', `${name}.json`),
  };
}

/**
 * Write the optimized config and program. The config is validated first (nothing is written
 * when it is invalid); the YAML is written before the program JSON.
 */
export async function writeOptimized(
  outDir: string,
  name: string,
  config: unknown,
  programJson: unknown,
): Promise<OptimizedPaths> {
  const paths = optimizedPaths(outDir, name);
  const yamlText = dumpPipeline(parsePipeline(config, `optimized ${name}`));
  const json = `${JSON.stringify(programJson, null, 2)}\n`;
  // `root`: real paths are checked at write time, so a symlinked folder on the way is refused.
  await writeFileAtomic(paths.yamlPath, yamlText, { root: outDir });
  await writeFileAtomic(paths.programPath, json, { root: outDir });
  return paths;
}
