#!/usr/bin/env node
// Writes protocol/schemas/*.json from the zod definitions (built into dist/ first by
// `npm run gen:schemas`). test/wire/schemas.test.ts fails when the checked-in files drift.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { buildJsonSchemas, schemaFileText, PROTOCOL_VERSION } = await import(
  join(root, 'dist', 'protocol', 'index.js')
);
const outDir = join(root, 'protocol', 'schemas');
mkdirSync(outDir, { recursive: true });
const schemas = buildJsonSchemas();
for (const f of readdirSync(outDir)) {
  if (f.endsWith('.json') && !(f in schemas)) rmSync(join(outDir, f));
}
for (const [file, schema] of Object.entries(schemas)) writeFileSync(join(outDir, file), schemaFileText(schema));
writeFileSync(join(root, 'protocol', 'VERSION'), `${PROTOCOL_VERSION}\n`);
process.stdout.write(`wrote ${Object.keys(schemas).length} schemas to protocol/schemas/\n`);
