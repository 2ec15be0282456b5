import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/build.js';
import { frame } from '../support/frames.js';
import { SidecarProcess } from '../support/sidecar_process.js';
import { topLevelIdTokens } from '../../src/rpc/raw_id.js';

// Issue #12, break 7 (wire part): big integer ids came back changed, and a flood of bad
// frames wrote unbounded warnings.
let running: SidecarProcess | undefined;
beforeAll(() => ensureBuilt());
afterEach(() => {
  if (running && !running.exitInfo) running.child.kill('SIGKILL');
  running = undefined;
});

/** Raw reply bodies as text: JSON.parse in the test would lose the very digits under test. */
function rawBodies(s: SidecarProcess): string[] {
  const bodies: string[] = [];
  let buf = Buffer.alloc(0);
  s.child.stdout.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const n = buf.readUInt32BE(0);
      bodies.push(buf.subarray(4, 4 + n).toString('utf8'));
      buf = buf.subarray(4 + n);
    }
  });
  return bodies;
}

describe('JSON-RPC ids round-trip exactly', () => {
  it('echoes integer ids above 2^53 (and long fractions) as written, alone and in batches', async () => {
    const s = (running = new SidecarProcess());
    const bodies = rawBodies(s);
    const ids = ['9007199254740993', '-9007199254740993', '123456789012345678901234567890', '0.10000000000000000001'];
    for (const id of ids) s.sendBody(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`);
    s.sendBody(`[{"jsonrpc":"2.0","method":"ping","id":18446744073709551617},{"jsonrpc":"2.0","id":7,"method":"ping"}]`);
    // An invalid request still names its id exactly.
    s.sendBody(`{"jsonrpc":"1.0","id":9007199254740995,"method":"ping"}`);
    await expect.poll(() => bodies.length, { timeout: 5000 }).toBe(ids.length + 2);
    ids.forEach((id, i) => expect(bodies[i]).toBe(`{"jsonrpc":"2.0","id":${id},"result":{}}`));
    expect(bodies[ids.length]).toBe(`[{"jsonrpc":"2.0","id":18446744073709551617,"result":{}},{"jsonrpc":"2.0","id":7,"result":{}}]`);
    expect(bodies[ids.length + 1]).toMatch(/^\{"jsonrpc":"2\.0","id":9007199254740995,"error":\{"code":-32600/);
    expect((await s.close()).code).toBe(0);
  });

  it('finds the top-level id token whatever the key order, nesting or string content', () => {
    expect(topLevelIdTokens('{"params":{"id":1},"s":"\\"id\\":2","id" : 9007199254740993 }')).toEqual(new Map([[-1, '9007199254740993']]));
    // Only number tokens are collected (a string id round-trips by itself).
    expect(topLevelIdTokens('[1,{"id":"x"},{"a":[{"id":3}],"id":-12e30}]')).toEqual(new Map([[2, '-12e30']]));
  });
});

describe('warnings about bad frames are rate-limited', () => {
  it('logs at most a burst per second for a flood of malformed frames, with the count of the rest', async () => {
    const s = (running = new SidecarProcess());
    const N = 5000;
    const flood = Buffer.concat(Array.from({ length: N }, () => frame('packet4', 'not json')));
    // Error responses with id null (no reply is due) flood the same way.
    const nullErrors = Buffer.concat(
      Array.from({ length: N }, () => frame('packet4', JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -1, message: 'x' } }))),
    );
    s.sendBytes(nullErrors);
    s.sendBytes(flood);
    for (let i = 0; i < N; i++) expect(await s.next()).toMatchObject({ id: null, error: { code: -32700 } });
    s.send({ jsonrpc: '2.0', id: 'after', method: 'ping' });
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 'after', result: {} });
    await s.close();
    const lines = s.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; suppressed?: number });
    const logged = lines.filter((l) => l.msg.startsWith('Parse error') || l.msg === 'peer reported an error with id null');
    const suppressed = lines.reduce((n, l) => n + (l.suppressed ?? 0), 0);
    // Every bad frame is either logged or counted; only a handful are logged.
    expect(logged.length + suppressed).toBe(2 * N);
    expect(logged.length).toBeLessThanOrEqual(60);
    expect(lines.some((l) => /similar warnings suppressed/.test(l.msg))).toBe(true);
  });
});
