import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../support/build.js';
import { frame, StrictFrameReader } from '../support/frames.js';

beforeAll(() => ensureBuilt());

it('logs unhandled rejections and uncaught exceptions from handlers, and keeps serving', async () => {
  const child = spawn(process.execPath, ['test/wire/fixtures/faulty_sidecar.mjs'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const frames: unknown[] = [];
  const reader = new StrictFrameReader('packet4', (v) => frames.push(v));
  child.stdout.on('data', (d: Buffer) => reader.push(d));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  const send = (v: unknown) => child.stdin.write(frame('packet4', JSON.stringify(v)));
  const waitFor = async (n: number) => {
    for (let i = 0; i < 200 && frames.length < n; i++) await sleep(25);
  };

  send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '1.0' } });
  send({ jsonrpc: '2.0', id: 1, method: 'test/unhandledRejection', params: {} });
  send({ jsonrpc: '2.0', id: 2, method: 'test/throwLater', params: {} });
  await waitFor(3);
  await sleep(100);
  send({ jsonrpc: '2.0', id: 3, method: 'ping' });
  await waitFor(4);
  expect(frames.slice(1)).toEqual([
    { jsonrpc: '2.0', id: 1, result: { ok: true } },
    { jsonrpc: '2.0', id: 2, result: { ok: true } },
    { jsonrpc: '2.0', id: 3, result: {} },
  ]);
  expect(exited).toBe(false);
  expect(stderr).toContain('nobody catches this');
  expect(stderr).toContain('thrown from a timer');
  child.stdin.end();
  await new Promise((r) => child.on('exit', r));
  expect(reader.problems).toEqual([]);
});
