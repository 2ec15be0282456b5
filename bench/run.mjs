#!/usr/bin/env node
// Runs every bench/*.bench.mjs in turn (each in its own process so one's heap and JIT state
// cannot skew another's figures) and prints their reports. A filter argument picks by name.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2];
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => !filter || f.includes(filter))
  .sort();
let failed = 0;
for (const file of files) {
  process.stdout.write(`\n=== ${file} ===\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(here, file)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed += 1;
    process.stdout.write(`!!! ${file} exited with ${r.status ?? r.signal}\n`);
  }
}
process.exit(failed ? 1 : 0);
