// Record framing of a store segment:
//
//   [u32 LE payload length][u32 LE CRC-32 of the payload][payload: UTF-8 JSON object]
//
// A payload is always a JSON object, so it starts with '{' (0x7B); a zero length is never
// written. Both facts let a reader reject garbage cheaply and re-synchronise after a corrupt
// region by trying each following offset (a false match needs a CRC-32 collision).
// The checksum is Node's own CRC-32 (zlib.crc32, Node >= 20.15; IEEE 802.3, the same function
// the earlier table-driven copy computed, check value 0xCBF43926), so there is no copy of ours.
import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 of `buf[start, end)` as an unsigned 32-bit integer. */
function crc32(buf: Buffer, start: number, end: number): number {
  return zlibCrc32(buf.subarray(start, end)) >>> 0;
}

export const FRAME_HEADER_BYTES = 8;
const OPEN_BRACE = 0x7b;

/** Writes the frame header for the payload already placed at `buf[off+8, off+8+len)`. */
export function sealFrame(buf: Buffer, off: number, len: number): void {
  buf.writeUInt32LE(len, off);
  buf.writeUInt32LE(crc32(buf, off + FRAME_HEADER_BYTES, off + FRAME_HEADER_BYTES + len), off + 4);
}

/** Encodes one payload string as a standalone frame. */
export function encodeFrame(payload: string): Buffer {
  const len = Buffer.byteLength(payload);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
  buf.write(payload, FRAME_HEADER_BYTES, 'utf8');
  sealFrame(buf, 0, len);
  return buf;
}

/** End offset of the valid frame starting at `off`, or -1 when there is none there. */
export function frameEnd(buf: Buffer, off: number, maxPayload: number): number {
  if (off + FRAME_HEADER_BYTES > buf.length) return -1;
  const len = buf.readUInt32LE(off);
  if (len === 0 || len > maxPayload) return -1;
  const end = off + FRAME_HEADER_BYTES + len;
  if (end > buf.length) return -1;
  if (buf[off + FRAME_HEADER_BYTES] !== OPEN_BRACE) return -1;
  if (crc32(buf, off + FRAME_HEADER_BYTES, end) !== buf.readUInt32LE(off + 4)) return -1;
  return end;
}

export interface FrameVisitor {
  frame(payloadStart: number, end: number): void;
  /** bytes [start, end) hold no valid frame; `atTail` when nothing valid follows */
  corrupt(start: number, end: number, atTail: boolean): void;
}

export type FrameItem =
  | { kind: 'frame'; payloadStart: number; end: number }
  | { kind: 'corrupt'; start: number; end: number; atTail: boolean };

/** Every frame of `buf` in order, re-synchronising past corrupt regions (lazily). */
export function* iterFrames(buf: Buffer, maxPayload: number): Generator<FrameItem> {
  let off = 0;
  while (off < buf.length) {
    const end = frameEnd(buf, off, maxPayload);
    if (end > 0) {
      yield { kind: 'frame', payloadStart: off + FRAME_HEADER_BYTES, end };
      off = end;
      continue;
    }
    let next = -1;
    for (let p = off + 1; p + FRAME_HEADER_BYTES < buf.length; p++) {
      if (buf[p + FRAME_HEADER_BYTES] === OPEN_BRACE && frameEnd(buf, p, maxPayload) > 0) {
        next = p;
        break;
      }
    }
    if (next < 0) {
      yield { kind: 'corrupt', start: off, end: buf.length, atTail: true };
      return;
    }
    yield { kind: 'corrupt', start: off, end: next, atTail: false };
    off = next;
  }
}

/** Walks every frame of `buf`, re-synchronising past corrupt regions. */
export function walkFrames(buf: Buffer, maxPayload: number, visit: FrameVisitor): void {
  for (const it of iterFrames(buf, maxPayload)) {
    if (it.kind === 'frame') visit.frame(it.payloadStart, it.end);
    else visit.corrupt(it.start, it.end, it.atTail);
  }
}
