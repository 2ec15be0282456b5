import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildJsonSchemas, schemaFileText } from '../../src/protocol/json_schema.js';
import { wireMethods } from '../../src/protocol/methods.js';
import { PROTOCOL_VERSION } from '../../src/protocol/version.js';
import { ROOT } from '../support/build.js';
import { loadVectors, mismatch, unorderedMismatch } from './support/vectors.js';

const schemaDir = join(ROOT, 'protocol', 'schemas');

describe('protocol/ files', () => {
  it('checked-in JSON Schemas match the zod definitions (run `npm run gen:schemas` after changing src/protocol)', () => {
    const built = buildJsonSchemas();
    const onDisk = readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort();
    expect(onDisk).toEqual(Object.keys(built).sort());
    for (const [file, schema] of Object.entries(built)) {
      expect(readFileSync(join(schemaDir, file), 'utf8'), file).toBe(schemaFileText(schema));
    }
  });

  it('protocol/VERSION is PROTOCOL_VERSION', () => {
    expect(readFileSync(join(ROOT, 'protocol', 'VERSION'), 'utf8').trim()).toBe(PROTOCOL_VERSION);
  });

  it('defines every method of the wire surface, both directions', () => {
    expect(Object.keys(wireMethods).sort()).toEqual(
      [
        'initialize', 'ping', 'shutdown', 'optimize', 'evaluate', 'lm/generate', 'telemetry/flush', 'telemetry/export',
        'exit', 'telemetry/events', '$/cancelRequest', 'pipeline/execute', '$/progress', 'log',
        'learning/config', 'learning/optimize', 'learning/status', 'learning/promoted', 'pipeline/load',
      ].sort(),
    );
    for (const [name, spec] of Object.entries(wireMethods)) {
      expect('result' in spec, name).toBe(spec.kind === 'request');
    }
  });

  it('PROTOCOL.md documents every method', () => {
    const doc = readFileSync(join(ROOT, 'protocol', 'PROTOCOL.md'), 'utf8');
    for (const name of Object.keys(wireMethods)) expect(doc, name).toContain(`\`${name}\``);
  });

  it('every vector is well-formed', () => {
    for (const v of loadVectors()) {
      expect(typeof v.name).toBe('string');
      expect(typeof v.initialize).toBe('boolean');
      expect(v.steps.length).toBeGreaterThan(0);
      for (const s of v.steps) {
        const sends = ['send', 'sendRaw', 'sendBase64'].filter((k) => k in s);
        expect(sends, v.name).toHaveLength(1);
        expect('expect' in s, v.name).toBe(true);
      }
    }
  });
});

describe('vector matcher', () => {
  it('applies the CONTRACTS rules', () => {
    expect(mismatch({ a: '$any' }, { a: 1 })).toBeUndefined();
    expect(mismatch({ a: '$any' }, {})).toBeDefined();
    expect(mismatch({ a: 1 }, { a: 1, b: 2 })).toBeDefined();
    const err = { jsonrpc: '2.0', id: null, error: { code: -32600, message: '$any' } };
    expect(mismatch(err, { ...err, error: { code: -32600, message: 'x', data: 1 } })).toBeUndefined();
    expect(mismatch(err, { ...err, error: { code: -32700, message: 'x' } })).toBeDefined();
    expect(mismatch({ data: { a: 1 } }, { data: { a: 1, b: 2 } })).toBeDefined();
    expect(mismatch([1, 2], [2, 1])).toBeDefined();
    expect(unorderedMismatch([1, 2], [2, 1])).toBeUndefined();
    expect(unorderedMismatch([1, 1], [1, 2])).toBeDefined();
    expect(mismatch(1, 1.0)).toBeUndefined();
    expect(mismatch('1', 1)).toBeDefined();
  });
});
