/**
 * Byte-level frame decoders. They turn a stream of chunks into frame bodies without ever
 * concatenating on each chunk (parts are kept in a list and joined once per frame) and
 * without buffering a frame longer than the limit: its bytes are counted off as they stream
 * past and dropped.
 */

export type Framing = 'packet4' | 'content-length';
export const FRAMINGS: readonly Framing[] = ['packet4', 'content-length'];
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export interface FrameEvents {
  /** A complete frame body. */
  frame(body: Buffer): void;
  /** A frame longer than the limit was announced; its body is being discarded unread. */
  oversize(bytes: number, maxBytes: number): void;
  /** Framing itself was broken (content-length only: an unreadable header block). */
  malformed(reason: string): void;
}

export interface FrameDecoder {
  push(chunk: Buffer): void;
  /** True when the stream stopped inside a frame (a truncated frame at EOF). */
  readonly midFrame: boolean;
}

export function createFrameDecoder(
  framing: Framing,
  maxFrameBytes: number,
  events: FrameEvents,
): FrameDecoder {
  return framing === 'packet4'
    ? new Packet4Decoder(maxFrameBytes, events)
    : new ContentLengthDecoder(maxFrameBytes, events);
}

/** Encodes one frame body for the given framing, as a single buffer (one write per frame). */
export function encodeFrame(framing: Framing, body: string): Buffer {
  const len = Buffer.byteLength(body, 'utf8');
  if (framing === 'packet4') {
    const out = Buffer.allocUnsafe(4 + len);
    out.writeUInt32BE(len, 0);
    out.write(body, 4, 'utf8');
    return out;
  }
  const header = `Content-Length: ${len}\r\n\r\n`;
  const hlen = header.length; // ASCII
  const out = Buffer.allocUnsafe(hlen + len);
  out.write(header, 0, 'latin1');
  out.write(body, hlen, 'utf8');
  return out;
}

/** Body collector shared by both decoders: a list of slices joined once. */
abstract class BodyCollector {
  protected need = -1; // body length being read, -1 while reading a header
  protected have = 0;
  protected parts: Buffer[] = [];
  protected discard = 0;

  constructor(
    protected readonly max: number,
    protected readonly events: FrameEvents,
  ) {}

  get midFrame(): boolean {
    return this.need >= 0 || this.discard > 0 || this.headerPending();
  }

  protected abstract headerPending(): boolean;

  /**
   * Reads header bytes of chunk from off. Returns the offset after the header (having begun
   * its body), or -1 when the chunk ended inside the header (its bytes are kept).
   */
  protected abstract consumeHeader(chunk: Buffer, off: number): number;

  push(chunk: Buffer): void {
    let off = 0;
    while (off >= 0 && off < chunk.length) {
      off = this.inBody() ? this.consumeBody(chunk, off) : this.consumeHeader(chunk, off);
    }
  }

  /** Starts a body of `len` bytes (or its discarding); returns nothing. */
  protected beginBody(len: number): void {
    if (len > this.max) {
      this.discard = len;
      this.events.oversize(len, this.max);
      return;
    }
    if (len === 0) {
      this.events.frame(Buffer.alloc(0));
      return;
    }
    this.need = len;
    this.have = 0;
    this.parts = [];
  }

  /** Consumes body or discard bytes from chunk at off; returns the new offset. */
  protected consumeBody(chunk: Buffer, off: number): number {
    const n = chunk.length;
    if (this.discard > 0) {
      const take = Math.min(this.discard, n - off);
      this.discard -= take;
      return off + take;
    }
    const want = this.need - this.have;
    const avail = n - off;
    if (avail < want) {
      this.parts.push(chunk.subarray(off));
      this.have += avail;
      return n;
    }
    const piece = chunk.subarray(off, off + want);
    let body: Buffer;
    if (this.parts.length === 0) body = piece;
    else {
      this.parts.push(piece);
      body = Buffer.concat(this.parts, this.need);
    }
    this.parts = [];
    this.have = 0;
    this.need = -1;
    this.events.frame(body);
    return off + want;
  }

  protected inBody(): boolean {
    return this.need >= 0 || this.discard > 0;
  }
}

/** Erlang `{:packet, 4}`: a 4-byte big-endian length, then the body. */
export class Packet4Decoder extends BodyCollector implements FrameDecoder {
  private readonly header = Buffer.alloc(4);
  private headerFill = 0;

  protected headerPending(): boolean {
    return this.headerFill > 0;
  }

  protected consumeHeader(chunk: Buffer, off: number): number {
    const take = Math.min(4 - this.headerFill, chunk.length - off);
    chunk.copy(this.header, this.headerFill, off, off + take);
    this.headerFill += take;
    if (this.headerFill < 4) return -1;
    this.headerFill = 0;
    this.beginBody(this.header.readUInt32BE(0));
    return off + take;
  }
}

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HEADER_BYTES = 8192;

/** LSP-style `Content-Length: N\r\n...\r\n\r\n` headers, then the body. */
export class ContentLengthDecoder extends BodyCollector implements FrameDecoder {
  private headerBuf: Buffer = Buffer.alloc(0);

  protected headerPending(): boolean {
    return this.headerBuf.length > 0;
  }

  protected consumeHeader(chunk: Buffer, off: number): number {
    // Header blocks are small and bounded, so joining them is cheap.
    const prevLen = this.headerBuf.length;
    const joined = prevLen ? Buffer.concat([this.headerBuf, chunk.subarray(off)]) : chunk.subarray(off);
    const end = joined.indexOf(HEADER_END, Math.max(0, prevLen - 3));
    if (end < 0) {
      if (joined.length > MAX_HEADER_BYTES) {
        // Garbage that never ends a header: drop it (keeping a tail that may start one).
        this.events.malformed(`header block longer than ${MAX_HEADER_BYTES} bytes`);
        this.headerBuf = Buffer.from(joined.subarray(joined.length - 3));
      } else {
        this.headerBuf = Buffer.from(joined);
      }
      return -1;
    }
    const headerText = joined.toString('latin1', 0, end);
    this.headerBuf = Buffer.alloc(0);
    const len = parseContentLength(headerText);
    if (typeof len === 'string') this.events.malformed(len);
    else this.beginBody(len);
    return off + end + 4 - prevLen;
  }
}

function parseContentLength(header: string): number | string {
  let length: number | undefined;
  for (const line of header.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) return `malformed header line: ${JSON.stringify(line.slice(0, 80))}`;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name !== 'content-length') continue; // Content-Type and others are tolerated
    const value = line.slice(colon + 1).trim();
    if (!/^\d{1,15}$/.test(value)) return `invalid Content-Length: ${JSON.stringify(value.slice(0, 40))}`;
    length = Number(value);
  }
  return length === undefined ? 'missing Content-Length header' : length;
}
