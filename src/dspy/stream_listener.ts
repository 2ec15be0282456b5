/**
 * StreamListener (DSPy's `dspy.streaming.StreamListener`): picks one output field of one
 * predictor out of the LM's streamed text and hands it on in pieces. It finds where the field
 * starts in the adapter's format (ChatAdapter `[[ ## field ## ]]`, JSONAdapter `"field":`,
 * XMLAdapter `<field>`) and where it ends (the next `[[ ## x ## ]]` header, the end of the JSON
 * value, `</field>`), and holds back the few characters that may turn out to be the end marker
 * or trailing whitespace, so the pieces of a field joined are its value as the adapter parses
 * it (JSON strings decoded, ChatAdapter values trimmed).
 */
import type { Predict } from './predict.js';

/** One piece of a streamed output field (DSPy's `StreamResponse`). */
export interface StreamResponse {
  /** The predictor's path in the program (`self` when the program is the predictor). */
  predictName: string;
  signatureFieldName: string;
  chunk: string;
  /** True on the field's last piece. */
  isLastChunk: boolean;
}

/** The structure the listened text is in (the adapter that formatted the call). */
export type StreamFormat = 'chat' | 'json' | 'xml';

/** Options of StreamListener. */
export interface StreamListenerOptions {
  /** The predictor to listen to; found by field name in the program when absent (it must be unique). */
  predict?: Predict;
  /** The predictor's name in chunks; its path in the program when absent. */
  predictName?: string;
  /** Listen to every call of the predictor (a loop calling it again), not only the first that streams the field. */
  allowReuse?: boolean;
}

/** A partial ChatAdapter header at the end of the text (`[`, `[[ ##`, `[[ ## next ## ]` ...). */
const PARTIAL_HEADER_AT_END = /\[(?:\[(?: (?:#(?:#(?: (?:\w+(?: (?:#(?:#(?: (?:\](?:\])?)?)?)?)?)?)?)?)?)?)?)?$/;
const HEADER = /\[\[ ## \w+ ## \]\]/;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Listens to one output field of one predictor (DSPy's `StreamListener`). */
export class StreamListener {
  readonly signatureFieldName: string;
  predict: Predict | undefined;
  predictName: string | undefined;
  readonly allowReuse: boolean;
  /** The field's start was seen in the current call. */
  streamStarted = false;
  /** The field's end was seen (or its call ended). */
  streamEnded = false;
  /** The field came whole, from a cached (or not streamed) answer. */
  cacheHit = false;
  /** Some piece of the field was handed on. */
  received = false;

  private format: StreamFormat = 'chat';
  private text = '';
  /** Index in `text` where the value's not yet handed-on part starts (once started). */
  private pos = 0;
  private startAt = 0;
  /** JSON: the value is a string (`"...`), or not (number, list, object ...); undefined until seen. */
  private jsonString: boolean | undefined;
  /** The value's first non-space character was seen. */
  private valueBegun = false;
  /** JSON scanner state for non-string values, from `pos` on. */
  private scan = { at: 0, depth: 0, inString: false, escaped: false };

  constructor(signatureFieldName: string, options: StreamListenerOptions = {}) {
    this.signatureFieldName = signatureFieldName;
    this.predict = options.predict;
    this.predictName = options.predictName;
    this.allowReuse = options.allowReuse ?? false;
  }

  /** Where the field's value starts in the current call's text (-1 before it started): orders fields written in one piece. */
  get valueStart(): number {
    return this.streamStarted ? this.startAt : -1;
  }

  /** A listener with the same configuration and fresh state (one per streamed call of a program). */
  fresh(): StreamListener {
    const l = new StreamListener(this.signatureFieldName, { allowReuse: this.allowReuse });
    l.predict = this.predict;
    l.predictName = this.predictName;
    return l;
  }

  /**
   * A call of the listened predictor begins, formatted as `format`. False when the listener is
   * done with its field and not reusable (it then ignores this call).
   */
  begin(format: StreamFormat): boolean {
    if (this.streamEnded && !this.allowReuse) return false;
    this.format = format;
    this.text = '';
    this.pos = 0;
    this.jsonString = undefined;
    this.valueBegun = false;
    this.scan = { at: 0, depth: 0, inString: false, escaped: false };
    this.streamStarted = false;
    this.streamEnded = false;
    this.cacheHit = false;
    return true;
  }

  /** The next piece of the LM's text: the field's piece it completes, if any. */
  receive(delta: string): StreamResponse | undefined {
    if (this.streamEnded) return undefined;
    this.text += delta;
    if (!this.streamStarted) {
      const start = this.findStart();
      if (start < 0) return undefined;
      this.streamStarted = true;
      this.pos = start;
      this.startAt = start;
    }
    return this.advance(false);
  }

  /** The call ended: whatever of the field is still held back, as its last piece. */
  finalize(): StreamResponse | undefined {
    if (!this.streamStarted || this.streamEnded) return undefined;
    return this.advance(true);
  }

  /** The answer came whole (cache hit, an LM that does not stream): the field's value as one last piece. */
  replay(value: unknown): StreamResponse | undefined {
    if (this.streamEnded && !this.allowReuse) return undefined;
    if (value === undefined) return undefined;
    this.streamStarted = true;
    this.streamEnded = true;
    this.cacheHit = true;
    const chunk = typeof value === 'string' ? value : value instanceof Date ? value.toISOString() : JSON.stringify(value);
    return this.emit(chunk, true);
  }

  /** Index just after the field's start identifier (and the whitespace after it), or -1. */
  private findStart(): number {
    const name = this.signatureFieldName;
    if (this.format === 'json') {
      const m = new RegExp(`"${escapeRegExp(name)}"\\s*:`).exec(this.text);
      return m ? m.index + m[0].length : -1;
    }
    const id = this.format === 'xml' ? `<${name}>` : `[[ ## ${name} ## ]]`;
    const i = this.text.indexOf(id);
    return i < 0 ? -1 : i + id.length;
  }

  private emit(chunk: string, last: boolean): StreamResponse | undefined {
    if (last) this.streamEnded = true;
    if (!chunk && !last) return undefined;
    this.received = true;
    return { predictName: this.predictName ?? 'self', signatureFieldName: this.signatureFieldName, chunk, isLastChunk: last };
  }

  /** Hands on what is safe to hand on; `final`: everything (the call ended). */
  private advance(final: boolean): StreamResponse | undefined {
    // Leading whitespace is not part of the value (adapters strip it); inner whitespace is.
    if (!this.valueBegun) {
      while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
      if (this.pos >= this.text.length) return final ? this.emit('', true) : undefined;
      this.valueBegun = true;
    }
    if (this.format === 'json') return this.advanceJson(final);
    const region = this.text.slice(this.pos);
    const endMatch = this.format === 'xml' ? region.indexOf(`</${this.signatureFieldName}>`) : region.search(HEADER);
    if (endMatch >= 0 || final) {
      this.pos = this.text.length;
      return this.emit((endMatch >= 0 ? region.slice(0, endMatch) : region).trimEnd(), true);
    }
    let safe = region.length;
    if (this.format === 'xml') {
      const marker = `</${this.signatureFieldName}>`;
      for (let k = Math.min(marker.length - 1, region.length); k > 0; k--) {
        if (region.endsWith(marker.slice(0, k))) {
          safe = region.length - k;
          break;
        }
      }
    } else {
      const partial = PARTIAL_HEADER_AT_END.exec(region);
      if (partial) safe = partial.index;
    }
    // Trailing whitespace may be the gap before the end marker: held until more text comes.
    safe = region.slice(0, safe).trimEnd().length;
    this.pos += safe;
    return this.emit(region.slice(0, safe), false);
  }

  private advanceJson(final: boolean): StreamResponse | undefined {
    if (this.jsonString === undefined) {
      this.jsonString = this.text[this.pos] === '"';
      if (this.jsonString) this.pos++;
      this.scan.at = this.pos;
    }
    return this.jsonString ? this.advanceJsonString(final) : this.advanceJsonValue(final);
  }

  /** A string value: decoded up to its closing quote, never splitting an escape. */
  private advanceJsonString(final: boolean): StreamResponse | undefined {
    const t = this.text;
    let i = this.scan.at;
    let escaped = this.scan.escaped;
    for (; i < t.length; i++) {
      const c = t[i]!;
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') {
        const raw = t.slice(this.pos, i);
        this.pos = i + 1;
        return this.emit(decodeJsonString(raw), true);
      }
    }
    this.scan.at = i;
    this.scan.escaped = escaped;
    // Stop before an escape that may not be complete (`\`, `\u12`).
    let safe = t.length;
    const tail = /\\(?:u[0-9a-fA-F]{0,3})?$/.exec(t.slice(Math.max(this.pos, t.length - 6)));
    if (tail && precededByEvenBackslashes(t, t.length - tail[0].length)) safe = t.length - tail[0].length;
    if (final) safe = t.length;
    const raw = t.slice(this.pos, safe);
    this.pos = safe;
    return this.emit(decodeJsonString(raw), final);
  }

  /** Any other value: raw JSON text up to the `,` or `}` that ends it at depth 0. */
  private advanceJsonValue(final: boolean): StreamResponse | undefined {
    const t = this.text;
    const s = this.scan;
    for (; s.at < t.length; s.at++) {
      const c = t[s.at]!;
      if (s.inString) {
        if (s.escaped) s.escaped = false;
        else if (c === '\\') s.escaped = true;
        else if (c === '"') s.inString = false;
      } else if (c === '"') s.inString = true;
      else if (c === '[' || c === '{') s.depth++;
      else if ((c === ']' || c === '}') && s.depth > 0) s.depth--;
      else if ((c === ',' || c === '}') && s.depth === 0) {
        const chunk = t.slice(this.pos, s.at).trimEnd();
        this.pos = s.at;
        return this.emit(chunk, true);
      }
    }
    const chunk = t.slice(this.pos).trimEnd();
    this.pos += chunk.length;
    return this.emit(chunk, final);
  }
}

function precededByEvenBackslashes(t: string, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && t[j] === '\\'; j--) n++;
  return n % 2 === 0;
}

/** The text of a JSON string's body (between its quotes); an undecodable one as written. */
function decodeJsonString(raw: string): string {
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}
