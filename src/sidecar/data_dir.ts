import { resolve } from 'node:path';

export const DATA_DIR_ENV = 'ELEXIRION_DATA_DIR';

/**
 * Where the sidecar keeps state that outlives it (the learner's store, ledger and configs under
 * `learning/`): `--data-dir`, else `$ELEXIRION_DATA_DIR`, else `<cwd>/.elexirion`. Absolute.
 */
export function resolveDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const dir = flag ?? (env[DATA_DIR_ENV] || undefined) ?? '.elexirion';
  return resolve(cwd, dir);
}
