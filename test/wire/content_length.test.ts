import { afterEach, beforeAll, expect, it } from 'vitest';
import { ensureBuilt } from '../support/build.js';
import { SidecarProcess } from '../support/sidecar_process.js';

let running: SidecarProcess | undefined;
beforeAll(() => ensureBuilt());
afterEach(() => {
  if (running && !running.exitInfo) running.child.kill('SIGKILL');
});

it('content-length framing: tolerates Content-Type, refuses broken headers with -32700, keeps working', async () => {
  const s = (running = new SidecarProcess('content-length', ['--max-frame-bytes', '1000']));
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  s.sendBytes(Buffer.from(`Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: ${body.length}\r\n\r\n${body}`));
  expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 1, result: {} });

  s.sendBytes(Buffer.from('Content-Length: abc\r\n\r\n'));
  expect(await s.next()).toMatchObject({ id: null, error: { code: -32700 } });
  s.sendBytes(Buffer.from('no colon here\r\n\r\n'));
  expect(await s.next()).toMatchObject({ id: null, error: { code: -32700 } });
  s.sendBytes(Buffer.from('X-Other: 1\r\n\r\n'));
  expect(await s.next()).toMatchObject({ id: null, error: { code: -32700 } });

  // Oversized: announced, discarded as it streams, answered id null.
  s.sendBytes(Buffer.from(`Content-Length: 5000\r\n\r\n${'x'.repeat(5000)}`));
  expect(await s.next()).toMatchObject({ id: null, error: { code: -32600, data: { frameBytes: 5000, maxFrameBytes: 1000 } } });

  s.sendBody(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }));
  expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 2, result: {} });
  expect((await s.close()).code).toBe(0);
  expect(s.stdoutProblems()).toEqual([]);
});
