import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/build.js';
import { frame } from '../support/frames.js';
import { SidecarProcess } from '../support/sidecar_process.js';

let running: SidecarProcess | undefined;
const start = (...args: ConstructorParameters<typeof SidecarProcess>): SidecarProcess =>
  (running = new SidecarProcess(...args));

beforeAll(() => ensureBuilt());
afterEach(async () => {
  if (running && !running.exitInfo) running.child.kill('SIGKILL');
  running = undefined;
});

const ping = (id: unknown) => ({ jsonrpc: '2.0', method: 'ping', id });

async function expectPing(s: SidecarProcess, id: string): Promise<void> {
  s.send(ping(id));
  expect(await s.next()).toEqual({ jsonrpc: '2.0', id, result: {} });
}

describe('hostile input over a real process', () => {
  it('answers garbage frames with -32700 and keeps answering', async () => {
    const s = start();
    const bodies = [
      Buffer.from('not json'),
      Buffer.from([0, 1, 2, 3, 4, 5]),
      Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"'), // truncated JSON in a complete frame
      Buffer.alloc(0),
      Buffer.from('\u0000\u0000'),
    ];
    for (const b of bodies) s.sendBody(b);
    for (let i = 0; i < bodies.length; i++) {
      const r = (await s.next()) as { id: unknown; error: { code: number } };
      expect(r.id).toBeNull();
      expect(r.error.code).toBe(-32700);
    }
    await expectPing(s, 'after-garbage');
    expect((await s.close()).code).toBe(0);
    expect(s.stdoutProblems()).toEqual([]);
  });

  it('treats invalid UTF-8 as a parse error, including overlong and surrogate encodings', async () => {
    const s = start();
    const bad = [
      [0xff],
      [0xc0, 0xaf], // overlong '/'
      [0xed, 0xa0, 0x80], // UTF-16 surrogate
      [0xe2, 0x82], // truncated sequence
    ];
    for (const seq of bad) {
      s.sendBody(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"p'), Buffer.from(seq), Buffer.from('ing"}')]));
      const r = (await s.next()) as { id: unknown; error: { code: number } };
      expect(r).toMatchObject({ id: null, error: { code: -32700 } });
    }
    await expectPing(s, 'after-utf8');
    await s.close();
    expect(s.stdoutProblems()).toEqual([]);
  });

  it('handles frames split into single bytes and many frames in one write', async () => {
    const s = start();
    const bytes = Buffer.concat([frame('packet4', JSON.stringify(ping('split'))), frame('packet4', JSON.stringify(ping('x')))]);
    for (const b of bytes) s.sendBytes(Buffer.from([b]));
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 'split', result: {} });
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 'x', result: {} });
    const many = Buffer.concat(Array.from({ length: 500 }, (_, i) => frame('packet4', JSON.stringify(ping(i)))));
    s.sendBytes(many);
    for (let i = 0; i < 500; i++) expect(await s.next()).toEqual({ jsonrpc: '2.0', id: i, result: {} });
    await s.close();
  });

  it('skips an oversized frame without buffering it, answers id null, and keeps working', async () => {
    const s = start('packet4', ['--max-frame-bytes', '65536']);
    await expectPing(s, 'warm');
    const rssBefore = rssKb(s.child.pid!);
    // Far more than V8's young generation (up to ~48 MiB of not-yet-collected read buffers on a
    // busy machine), so garbage and a buffered frame cannot be confused.
    const total = 128 * 1024 * 1024;
    const header = Buffer.alloc(4);
    header.writeUInt32BE(total, 0);
    s.sendBytes(header);
    const first = (await s.next()) as { id: unknown; error: { code: number; data: Record<string, number> } };
    expect(first).toMatchObject({ id: null, error: { code: -32600, data: { frameBytes: total, maxFrameBytes: 65536 } } });
    const chunk = Buffer.alloc(1024 * 1024, 0x7b); // '{' bytes: would be garbage JSON if ever parsed
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!s.child.stdin.write(chunk)) await new Promise((r) => s.child.stdin.once('drain', r));
    }
    await expectPing(s, 'after-oversize');
    const rssAfter = rssKb(s.child.pid!);
    // 128 MiB streamed through: memory must not have grown by anything like the frame size.
    expect(rssAfter - rssBefore).toBeLessThan(64 * 1024);
    // A frame just under the limit still works.
    s.send({ ...ping('big'), params: { pad: 'x'.repeat(60_000) } });
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 'big', result: {} });
    await s.close();
    expect(s.stdoutProblems()).toEqual([]);
  });

  it('answers params of wrong types with -32602 naming each field', async () => {
    const s = start();
    s.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: ['1.0'], clientInfo: 'me' } });
    const r = (await s.next()) as { error: { code: number; data: { issues: Array<{ path: unknown[] }> } } };
    expect(r.error.code).toBe(-32602);
    expect(r.error.data.issues.map((i) => i.path)).toEqual([['protocolVersion'], ['clientInfo']]);
    await s.initialize('1.0');
    s.send({ jsonrpc: '2.0', id: 2, method: 'ping', params: [1] });
    expect(await s.next()).toMatchObject({ id: 2, error: { code: -32602 } });
    await s.close();
  });

  it('exits within 1 s of stdin EOF, and on EOF inside a truncated frame', async () => {
    for (const tail of [Buffer.alloc(0), Buffer.from([0, 0, 0, 50, 0x7b, 0x22]), Buffer.from([0, 0])]) {
      const s = start();
      await s.initialize('1.0');
      s.sendBytes(tail);
      const t0 = performance.now();
      s.child.stdin.end();
      const exit = await s.exited;
      expect(exit.code).toBe(0);
      expect(exit.at - t0).toBeLessThan(1000);
      expect(s.stdoutProblems()).toEqual([]);
    }
  });

  it('exits within 1 s on SIGTERM', async () => {
    const s = start();
    await s.initialize('1.0');
    const t0 = performance.now();
    s.child.kill('SIGTERM');
    const exit = await s.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - t0).toBeLessThan(1000);
  });

  it('follows shutdown then exit with code 0, and exit without shutdown with code 1', async () => {
    const a = start();
    await a.initialize('1.0');
    expect(await a.request({ jsonrpc: '2.0', id: 1, method: 'shutdown' })).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
    a.send({ jsonrpc: '2.0', method: 'exit' });
    expect((await a.exited).code).toBe(0);
    const b = start();
    b.send({ jsonrpc: '2.0', method: 'exit' });
    expect((await b.exited).code).toBe(1);
  });

  it('logs pino JSON to stderr only, at the level asked for', async () => {
    const s = start('packet4', ['--log-level', 'debug']);
    s.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '1.0', clientInfo: { name: 'n' } } });
    await s.next();
    s.sendBody('nope');
    await s.next();
    await s.close();
    const lines = s.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(lines.some((l) => JSON.parse(l).level === 20)).toBe(true); // debug lines present
    expect(s.stdoutProblems()).toEqual([]);

    const quiet = start('packet4', [], { ELEXIRION_LOG_LEVEL: 'error' });
    quiet.sendBody('nope');
    await quiet.next();
    await quiet.close();
    expect(quiet.stderr).toBe('');
  });
});

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}
