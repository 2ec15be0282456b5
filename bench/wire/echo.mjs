// The floor: a minimal Node process that reads {:packet, 4} frames on stdin and writes each
// one back unchanged. No JSON, no dispatch: only the pipe, the event loop and the framing.
let buf = Buffer.alloc(0);
process.stdin.on('data', (d) => {
  buf = buf.length ? Buffer.concat([buf, d]) : d;
  let off = 0;
  const out = [];
  while (buf.length - off >= 4) {
    const n = buf.readUInt32BE(off);
    if (buf.length - off < 4 + n) break;
    out.push(buf.subarray(off, off + 4 + n));
    off += 4 + n;
  }
  buf = buf.subarray(off);
  if (out.length) process.stdout.write(out.length === 1 ? out[0] : Buffer.concat(out));
});
process.stdin.on('end', () => process.exit(0));
