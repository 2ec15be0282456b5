// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of every store frame.
// The table-driven version is ours; Node >= 20.15 ships the same function natively in zlib,
// which is several times faster, so it is used when present (a test checks they agree).
import * as zlib from 'node:zlib';

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Pure-TypeScript CRC-32 of `buf[start, end)`; returns an unsigned 32-bit integer. */
export function crc32Portable(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = -1;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `buf[start, end)` (native when available, else portable). */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  if (native) return native(start === 0 && end === buf.length ? buf : buf.subarray(start, end)) >>> 0;
  return crc32Portable(buf, start, end);
}
