import * as z from 'zod';
import { RunProgress } from './run.js';
import { wireMethods } from './methods.js';
import { PROTOCOL_VERSION } from './version.js';

/** `lm/generate` -> `lm_generate`, `$/cancelRequest` -> `cancelRequest`: safe file stems. */
export function schemaFileStem(method: string): string {
  return method.replace(/^\$\//, '').replace(/[^A-Za-z0-9_-]+/g, '_');
}

/**
 * Every JSON Schema file of `protocol/schemas/`, by file name, built from the zod
 * definitions with zod's own `z.toJSONSchema`. `scripts/gen-schemas.mjs` writes them; a test
 * fails when the checked-in files differ.
 */
export function buildJsonSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const add = (file: string, schema: z.ZodType, io: 'input' | 'output', title: string): void => {
    const json = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
    out[file] = { ...json, title, 'x-protocol-version': PROTOCOL_VERSION };
  };
  for (const [method, spec] of Object.entries(wireMethods)) {
    const stem = schemaFileStem(method);
    add(`${stem}.params.json`, spec.params, 'input', `${method} params`);
    if ('result' in spec && spec.result) add(`${stem}.result.json`, spec.result, 'output', `${method} result`);
  }
  add('run_progress.json', RunProgress, 'output', '$/progress value for optimize and evaluate');
  return out;
}

/** Stable text of a schema file (2-space JSON, trailing newline). */
export function schemaFileText(schema: unknown): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
