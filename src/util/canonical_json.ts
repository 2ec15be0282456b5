/**
 * Canonical JSON and its hash: object keys sorted at every depth, `undefined` and function
 * values dropped from objects (as `JSON.stringify` does), `undefined`/functions/non-finite numbers
 * in arrays written `null`, `toJSON()` honoured (a Date is its ISO string). Equal values with a
 * different key order give the same text and the same hash. One copy for the whole tree: the LM
 * request key, optimizer run configs, pipeline candidate ids and the learning dedup keys.
 *
 * For plain JSON data (what is hashed and persisted, e.g. the learning dedup keys) the output is
 * byte-identical to the earlier per-area copies.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value)) ?? 'null';
}

/**
 * A copy of `value` whose objects have their keys in sorted order (and `toJSON()` applied), so
 * `JSON.stringify` of it, compact or indented, is canonical.
 */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object') {
    const src = value as Record<string, unknown>;
    if (typeof (src as { toJSON?: unknown }).toJSON === 'function') {
      return sortKeysDeep((src as { toJSON(): unknown }).toJSON());
    }
    // A null prototype makes a `__proto__` key an ordinary property, as JSON.parse leaves it.
    const out: Record<string, unknown> = Object.create(null);
    for (const k of Object.keys(src).sort()) {
      const v = src[k];
      if (v !== undefined && typeof v !== 'function') out[k] = sortKeysDeep(v);
    }
    return out;
  }
  return value;
}

export function sha256Hex(s: string | Uint8Array): string {
  return createHash('sha256').update(s).digest('hex');
}

/** sha256 of the canonical JSON, hex. */
export function hashJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/** Structural equality of two JSON-like values, key order ignored. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
