/**
 * Classification of one inbound JSON value by the JSON-RPC 2.0 rules (spec §4, §5, §6).
 * vscode-jsonrpc silently drops what it does not understand; we must answer it instead.
 */
import { RawNumberId } from './raw_id.js';

/** A `RawNumberId` is a number id too large for a double, kept as written (raw_id.ts). */
export type JsonRpcId = string | number | RawNumberId | null;

export type Inbound =
  | { type: 'request'; id: JsonRpcId; method: string; params: unknown }
  | { type: 'notification'; method: string; params: unknown }
  | { type: 'response'; id: JsonRpcId; result?: unknown; error?: unknown }
  | { type: 'invalid'; id: JsonRpcId; reason: string };

export interface ResponseMessage {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isValidId(v: unknown): v is JsonRpcId {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || v instanceof RawNumberId;
}

export function classify(value: unknown): Inbound {
  if (!isPlainObject(value)) return { type: 'invalid', id: null, reason: 'not a JSON-RPC object' };
  const hasId = Object.prototype.hasOwnProperty.call(value, 'id');
  // The id is echoed in an error only when it could be read (spec §5: else null).
  const id: JsonRpcId = hasId && isValidId(value.id) ? value.id : null;
  if (value.jsonrpc !== '2.0') return { type: 'invalid', id, reason: 'jsonrpc must be exactly "2.0"' };
  if (hasId && !isValidId(value.id)) {
    return { type: 'invalid', id: null, reason: 'id must be a string, a number or null' };
  }
  if (Object.prototype.hasOwnProperty.call(value, 'method')) {
    if (typeof value.method !== 'string') return { type: 'invalid', id, reason: 'method must be a string' };
    if (Object.prototype.hasOwnProperty.call(value, 'params')) {
      const p = value.params;
      if (typeof p !== 'object' || p === null) {
        return { type: 'invalid', id, reason: 'params must be an object or an array' };
      }
    }
    return hasId
      ? { type: 'request', id, method: value.method, params: value.params }
      : { type: 'notification', method: value.method, params: value.params };
  }
  const hasResult = Object.prototype.hasOwnProperty.call(value, 'result');
  const hasError = Object.prototype.hasOwnProperty.call(value, 'error');
  if (hasId && hasResult !== hasError) {
    return hasResult
      ? { type: 'response', id, result: value.result }
      : { type: 'response', id, error: value.error };
  }
  return { type: 'invalid', id, reason: 'neither a request nor a response' };
}

/** Map key for an id: keeps 1 and "1" apart. */
export function idKey(id: JsonRpcId): string {
  return typeof id === 'string' ? `s:${id}` : `n:${String(id)}`; // RawNumberId: its token
}
