import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../support/build.js';
import type { SidecarProcess } from '../../support/sidecar_process.js';

export interface VectorStep {
  send?: unknown;
  sendRaw?: string;
  sendBase64?: string;
  expect: unknown;
  unordered?: boolean;
}
export interface Vector {
  name: string;
  description: string;
  initialize: boolean;
  steps: VectorStep[];
}

export const VECTORS_DIR = join(ROOT, 'protocol', 'vectors');

export function loadVectors(): Vector[] {
  return readdirSync(VECTORS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(VECTORS_DIR, f), 'utf8')) as Vector);
}

export function protocolVersionFile(): string {
  return readFileSync(join(ROOT, 'protocol', 'VERSION'), 'utf8').trim();
}

/**
 * Matching rules of docs/CONTRACTS.md "Golden vectors": "$any" matches any present value;
 * object keys not in `expect` must be absent, except `error.data`, compared only when given.
 * Returns a description of the first mismatch, or undefined.
 */
export function mismatch(expected: unknown, actual: unknown, path = '$', parentKey = ''): string | undefined {
  if (expected === '$any') return actual === undefined ? `${path}: missing` : undefined;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)}`;
    if (expected.length !== actual.length) return `${path}: expected ${expected.length} entries, got ${actual.length}`;
    for (let i = 0; i < expected.length; i++) {
      const m = mismatch(expected[i], actual[i], `${path}[${i}]`);
      if (m) return m;
    }
    return undefined;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) {
      return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    }
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!(k in a)) return `${path}.${k}: missing`;
      const m = mismatch(e[k], a[k], `${path}.${k}`, k);
      if (m) return m;
    }
    for (const k of Object.keys(a)) {
      if (k in e) continue;
      if (parentKey === 'error' && k === 'data') continue;
      return `${path}.${k}: unexpected key`;
    }
    return undefined;
  }
  return Object.is(expected, actual) || expected === actual ? undefined : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/** Multiset comparison of a batch reply. */
export function unorderedMismatch(expected: unknown[], actual: unknown): string | undefined {
  if (!Array.isArray(actual)) return `expected a batch array, got ${JSON.stringify(actual)}`;
  if (expected.length !== actual.length) return `expected ${expected.length} entries, got ${actual.length}: ${JSON.stringify(actual)}`;
  const left = [...actual];
  for (const e of expected) {
    const i = left.findIndex((a) => mismatch(e, a) === undefined);
    if (i < 0) return `no reply entry matches ${JSON.stringify(e)} in ${JSON.stringify(actual)}`;
    left.splice(i, 1);
  }
  return undefined;
}

let probeCounter = 0;

/** Replays one vector against a running sidecar; throws with a description on mismatch. */
export async function replay(vector: Vector, sidecar: SidecarProcess): Promise<void> {
  if (vector.initialize) await sidecar.initialize(protocolVersionFile());
  for (const [i, step] of vector.steps.entries()) {
    const where = `${vector.name} step ${i}`;
    if (step.sendRaw !== undefined) sidecar.sendBody(Buffer.from(step.sendRaw, 'utf8'));
    else if (step.sendBase64 !== undefined) sidecar.sendBody(Buffer.from(step.sendBase64, 'base64'));
    else sidecar.send(step.send);
    if (step.expect === null) {
      const probeId = `vector-probe-${++probeCounter}`;
      sidecar.send({ jsonrpc: '2.0', method: 'ping', id: probeId });
      const reply = await sidecar.next();
      const m = mismatch({ jsonrpc: '2.0', id: probeId, result: {} }, reply);
      if (m) throw new Error(`${where}: expected no reply, but got ${JSON.stringify(reply)} (${m})`);
      continue;
    }
    const reply = await sidecar.next();
    const m =
      step.unordered && Array.isArray(step.expect) ? unorderedMismatch(step.expect, reply) : mismatch(step.expect, reply);
    if (m) throw new Error(`${where}: ${m}\n  got ${JSON.stringify(reply)}`);
  }
}
