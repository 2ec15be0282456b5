import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, ROOT } from '../support/build.js';
import { LIMIT_SPECS, readLimits } from '../../src/util/limits.js';

// Every limit the code enforces is documented with its real default, in both places a user
// looks (PROTOCOL.md for client writers, README for users), and is changed by its variable.
const protocol = readFileSync(join(ROOT, 'protocol/PROTOCOL.md'), 'utf8');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

describe('input limits', () => {
  for (const spec of Object.values(LIMIT_SPECS)) {
    it(`${spec.env} is documented with its default (${spec.default}) and read from the environment`, () => {
      expect(protocol).toContain(`| \`${spec.env}\` | ${spec.default}`);
      expect(readme).toContain(`| \`${spec.env}\` |`);
      const name = (Object.keys(LIMIT_SPECS) as Array<keyof typeof LIMIT_SPECS>).find((k) => LIMIT_SPECS[k] === spec)!;
      expect(readLimits({})[name]).toBe(spec.default);
      expect(readLimits({ [spec.env]: '1234' })[name]).toBe(1234);
      expect(() => readLimits({ [spec.env]: '-1' })).toThrow(new RegExp(`${spec.env} must be a positive integer`));
    });
  }
});

it('a bad limit variable stops `elexirion serve` at start, naming it', () => {
  ensureBuilt();
  const r = spawnSync(process.execPath, [CLI, 'serve'], { env: { ...process.env, ELEXIRION_MAX_YAML_BYTES: 'abc' }, input: '', encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('ELEXIRION_MAX_YAML_BYTES must be a positive integer (got "abc")');
});
