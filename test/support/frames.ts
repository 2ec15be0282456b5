/** Test-side framing, written independently of src/rpc so the tests do not trust the code they test. */
export type Framing = 'packet4' | 'content-length';

export function frame(framing: Framing, body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (framing === 'packet4') {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(b.length, 0);
    return Buffer.concat([h, b]);
  }
  return Buffer.concat([Buffer.from(`Content-Length: ${b.length}\r\n\r\n`, 'ascii'), b]);
}

/**
 * Strict decoder of what the sidecar writes: every frame must be complete, valid UTF-8 JSON
 * and a JSON-RPC response/notification/request object or a non-empty array of responses.
 * Anything else is recorded in `problems`.
 */
export class StrictFrameReader {
  private buf: Buffer = Buffer.alloc(0);
  readonly problems: string[] = [];

  constructor(
    private readonly framing: Framing,
    private readonly onFrame: (value: unknown) => void,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      let headerLen: number;
      let bodyLen: number;
      if (this.framing === 'packet4') {
        if (this.buf.length < 4) return;
        headerLen = 4;
        bodyLen = this.buf.readUInt32BE(0);
      } else {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buf.length > 1024) this.problems.push('content-length header too long');
          return;
        }
        const m = /^Content-Length: (\d+)$/.exec(this.buf.toString('latin1', 0, end));
        if (!m) {
          this.problems.push(`bad header ${JSON.stringify(this.buf.toString('latin1', 0, end))}`);
          this.buf = Buffer.alloc(0);
          return;
        }
        headerLen = end + 4;
        bodyLen = Number(m[1]);
      }
      if (this.buf.length < headerLen + bodyLen) return;
      const body = this.buf.subarray(headerLen, headerLen + bodyLen);
      this.buf = this.buf.subarray(headerLen + bodyLen);
      let value: unknown;
      try {
        value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
      } catch (err) {
        this.problems.push(`unparseable frame: ${(err as Error).message}`);
        continue;
      }
      const problem = checkOutgoing(value);
      if (problem) this.problems.push(problem);
      this.onFrame(value);
    }
  }

  /** Bytes left over that never completed a frame. */
  get leftover(): number {
    return this.buf.length;
  }
}

function checkOutgoing(v: unknown): string | undefined {
  const one = (m: unknown): string | undefined => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return `not an object: ${JSON.stringify(m)}`;
    const o = m as Record<string, unknown>;
    if (o.jsonrpc !== '2.0') return `missing jsonrpc 2.0: ${JSON.stringify(m)}`;
    if ('method' in o) return typeof o.method === 'string' ? undefined : 'bad method';
    if (!('id' in o)) return `response without id: ${JSON.stringify(m)}`;
    if (('result' in o) === ('error' in o)) return `response needs exactly one of result/error: ${JSON.stringify(m)}`;
    if ('error' in o) {
      const e = o.error as Record<string, unknown>;
      if (!Number.isInteger(e?.code) || typeof e?.message !== 'string') return `bad error object: ${JSON.stringify(e)}`;
    }
    return undefined;
  };
  if (Array.isArray(v)) {
    if (v.length === 0) return 'empty batch reply';
    for (const m of v) {
      const p = one(m);
      if (p) return p;
    }
    return undefined;
  }
  return one(v);
}
