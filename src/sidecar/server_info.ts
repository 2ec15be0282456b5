import { readFileSync } from 'node:fs';

export const SERVER_NAME = 'elexirion';

let cached: string | undefined;

/** The package version (from package.json, two levels up from both src/sidecar and dist/sidecar). */
export function serverVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version?: unknown;
      };
      cached = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
    } catch {
      cached = '0.0.0';
    }
  }
  return cached;
}
