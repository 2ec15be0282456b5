/**
 * JSON-RPC ids that a JavaScript number cannot hold exactly. `JSON.parse` turns the id
 * 9007199254740993 into 9007199254740992, and a client matching replies by id would never see
 * its answer. Such an id is kept as the token the client wrote (`RawNumberId`) and written back
 * verbatim: `toJSON` emits a per-process sentinel string that the writer swaps for the raw
 * token after `JSON.stringify` (Node 20 has neither `JSON.rawJSON` nor reviver source text).
 * Only frames whose id does not survive as a number pay for the extra scan.
 */
import { randomBytes } from 'node:crypto';

const NONCE = randomBytes(6).toString('hex');
const SENTINEL = `\u0000raw-id:${NONCE}:`;
/** The sentinel as it appears inside JSON text (`\u0000` escaped), quotes included. */
const SENTINEL_IN_JSON = new RegExp(`"\\\\u0000raw-id:${NONCE}:(-?[0-9][0-9eE.+-]*)"`, 'g');
let created = 0;

export class RawNumberId {
  constructor(readonly raw: string) {
    created += 1;
  }

  toJSON(): string {
    return `${SENTINEL}${this.raw}`;
  }

  toString(): string {
    return this.raw;
  }
}

/** Puts raw id tokens back into serialized JSON text (a no-op until a raw id exists). */
export function restoreRawIds(json: string): string {
  if (created === 0 || !json.includes(`raw-id:${NONCE}:`)) return json;
  return json.replace(SENTINEL_IN_JSON, '$1');
}

/** True when a parsed numeric id would not be written back as the client wrote it. */
function lossy(id: unknown): boolean {
  // Infinity (from 1e400) stays what it was: not a usable id.
  return typeof id === 'number' && Number.isFinite(id) && !Number.isSafeInteger(id);
}

/**
 * Replaces, in a freshly parsed frame (a message or a batch), every numeric `id` that lost
 * precision with a `RawNumberId` of its token in `text`.
 */
export function keepRawIds(value: unknown, text: string): void {
  const isMsg = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const needs = Array.isArray(value) ? value.some((v) => isMsg(v) && lossy(v.id)) : isMsg(value) && lossy(value.id);
  if (!needs) return;
  const tokens = topLevelIdTokens(text);
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const raw = tokens.get(i);
      if (isMsg(v) && lossy(v.id) && raw !== undefined) v.id = new RawNumberId(raw);
    });
  } else if (isMsg(value)) {
    const raw = tokens.get(-1);
    if (raw !== undefined) value.id = new RawNumberId(raw);
  }
}

/**
 * The number token of the `id` key of the top-level object (key -1), or of each object element
 * of a top-level array (key = index). The text is known to be valid JSON.
 */
export function topLevelIdTokens(text: string): Map<number, string> {
  const out = new Map<number, string>();
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const skipString = (): string => {
    const start = i;
    i++; // opening quote
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return text.slice(start, i);
  };
  const skipValue = (): string => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '"') return skipString();
    if (c === '{' || c === '[') {
      let depth = 0;
      do {
        const d = text[i];
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') depth--;
        i++;
      } while (depth > 0);
      return text.slice(start, i);
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i]!)) i++;
    return text.slice(start, i);
  };
  const objectId = (): string | undefined => {
    let id: string | undefined;
    i++; // {
    for (;;) {
      ws();
      if (text[i] === '}') break;
      const key = JSON.parse(skipString()) as string;
      ws();
      i++; // :
      const v = skipValue();
      if (key === 'id' && /^-?[0-9]/.test(v)) id = v; // a repeated key: the last one wins, as in JSON.parse
      ws();
      if (text[i] === ',') i++;
    }
    i++;
    return id;
  };
  ws();
  if (text[i] === '{') {
    const id = objectId();
    if (id !== undefined) out.set(-1, id);
  } else if (text[i] === '[') {
    i++;
    for (let index = 0; ; index++) {
      ws();
      if (text[i] === ']') break;
      if (text[i] === '{') {
        const id = objectId();
        if (id !== undefined) out.set(index, id);
      } else skipValue();
      ws();
      if (text[i] === ',') i++;
    }
  }
  return out;
}
