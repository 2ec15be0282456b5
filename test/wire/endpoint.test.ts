import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { defineMethod } from '../../src/sidecar/registry.js';
import { InProcessSidecar } from '../support/in_process.js';

const seen: { aborted: string[] } = { aborted: [] };

const sleepMethod = defineMethod({
  method: 'test/sleep',
  kind: 'request',
  params: z.object({ ms: z.number(), tag: z.string().optional() }),
  async handler({ ms, tag }, ctx) {
    try {
      await sleep(ms, undefined, { signal: ctx.signal });
    } catch (err) {
      if (tag) seen.aborted.push(tag);
      throw err;
    }
    return { slept: ms };
  },
});
const failMethod = defineMethod({
  method: 'test/fail',
  kind: 'request',
  params: z.object({}),
  handler() {
    throw new Error('boom');
  },
});
const progressMethod = defineMethod({
  method: 'test/progress',
  kind: 'request',
  params: z.object({ progressToken: z.union([z.string(), z.int()]).optional() }),
  async handler(_p, ctx) {
    ctx.progress({ step: 1 });
    ctx.progress({ step: 2 });
    return { done: true };
  },
});
const callPeer = defineMethod({
  method: 'test/callPeer',
  kind: 'request',
  params: z.object({ timeoutMs: z.int() }),
  handler: ({ timeoutMs }, ctx) =>
    ctx.peer.request('pipeline/execute', { config: {}, inputs: {}, context: {}, timeoutMs }, { timeoutMs, signal: ctx.signal }),
});
let release: () => void = () => {};
let handledNotes = 0;
const slowNote = defineMethod({
  method: 'test/note',
  kind: 'notification',
  params: z.object({ n: z.int() }),
  async handler() {
    await new Promise<void>((r) => (release = r));
    handledNotes += 1;
  },
});
const lateProgress = defineMethod({
  method: 'test/lateProgress',
  kind: 'request',
  params: z.object({ progressToken: z.string() }),
  async handler(_p, ctx) {
    ctx.progress({ step: 1 });
    await sleep(60); // ignores its signal, as a handler winding down may
    ctx.progress({ step: 2 });
    return { done: true };
  },
});
const extra = [sleepMethod, failMethod, progressMethod, callPeer, slowNote, lateProgress];
const req = (id: unknown, method: string, params?: unknown) => ({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

describe('conformance layer in process', () => {
  it('answers a cancelled request with -32800 at once, aborts its signal, and never answers twice', async () => {
    const s = new InProcessSidecar(extra);
    await s.initialize();
    s.send(req(1, 'test/sleep', { ms: 10_000, tag: 'one' }));
    await sleep(20);
    s.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } });
    expect(await s.next()).toMatchObject({ id: 1, error: { code: -32800 } });
    await sleep(20);
    expect(seen.aborted).toContain('one');
    s.send(req(2, 'ping'));
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 2, result: {} });
    expect(s.sidecar.endpoint.inFlightRequests).toBe(0);
  });

  it('puts a cancelled batch entry into the batch reply', async () => {
    const s = new InProcessSidecar(extra);
    await s.initialize();
    s.send([req('a', 'test/sleep', { ms: 10_000 }), req('b', 'test/sleep', { ms: 5 })]);
    await sleep(30);
    s.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 'a' } });
    const batch = (await s.next()) as Array<{ id: string }>;
    expect(batch).toHaveLength(2);
    expect(batch.find((r) => r.id === 'a')).toMatchObject({ error: { code: -32800 } });
    expect(batch.find((r) => r.id === 'b')).toMatchObject({ result: { slept: 5 } });
  });

  it('answers handler failures with -32603, with a stack only at debug level', async () => {
    const info = new InProcessSidecar(extra, { level: 'info' });
    await info.initialize();
    info.send(req(1, 'test/fail', {}));
    const r = (await info.next()) as { error: { code: number; message: string; data?: unknown } };
    expect(r.error.code).toBe(-32603);
    expect(r.error.message).toContain('boom');
    expect(r.error.data).toBeUndefined();
    const debug = new InProcessSidecar(extra, { level: 'debug' });
    await debug.initialize();
    debug.send(req(1, 'test/fail', {}));
    const d = (await debug.next()) as { error: { data: { stack: string } } };
    expect(d.error.data.stack).toContain('boom');
  });

  it('sends $/progress with the request token before the result, and none without a token', async () => {
    const s = new InProcessSidecar(extra);
    await s.initialize();
    s.send(req(1, 'test/progress', { progressToken: 'tok' }));
    expect(await s.next()).toEqual({ jsonrpc: '2.0', method: '$/progress', params: { token: 'tok', value: { step: 1 } } });
    expect(await s.next()).toEqual({ jsonrpc: '2.0', method: '$/progress', params: { token: 'tok', value: { step: 2 } } });
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 1, result: { done: true } });
    s.send(req(2, 'test/progress', {}));
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 2, result: { done: true } });
  });

  it('sends no $/progress after a request was cancelled (progress comes before the reply)', async () => {
    const s = new InProcessSidecar(extra);
    await s.initialize();
    s.send(req(1, 'test/lateProgress', { progressToken: 't' }));
    expect(await s.next()).toMatchObject({ method: '$/progress', params: { token: 't', value: { step: 1 } } });
    s.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } });
    expect(await s.next()).toMatchObject({ id: 1, error: { code: -32800 } });
    await sleep(100);
    s.send(req(2, 'ping'));
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 2, result: {} });
  });

  it('makes outgoing requests, routes the reply, and times them out telling the peer', async () => {
    const s = new InProcessSidecar(extra);
    await s.initialize();
    s.send(req(1, 'test/callPeer', { timeoutMs: 5000 }));
    const out = (await s.next()) as { id: number; method: string; params: unknown };
    expect(out.method).toBe('pipeline/execute');
    s.send({ jsonrpc: '2.0', id: out.id, result: { status: 'ok', steps: {}, output: 42, durationMs: 1 } });
    expect(await s.next()).toMatchObject({ id: 1, result: { output: 42 } });

    s.send(req(2, 'test/callPeer', { timeoutMs: 50 }));
    const out2 = (await s.next()) as { id: number };
    expect(await s.next()).toEqual({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: out2.id } });
    const failed = (await s.next()) as { id: number; error: { code: number; message: string } };
    expect(failed.id).toBe(2);
    expect(failed.error.code).toBe(-32603);
    expect(failed.error.message).toContain('no reply within 50 ms');
    // A late reply is dropped without a trace on the wire.
    s.send({ jsonrpc: '2.0', id: out2.id, result: {} });
    s.send(req(3, 'ping'));
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 3, result: {} });
  });

  it('cancelling an inbound request cancels its outgoing request at the peer', async () => {
    const s = new InProcessSidecar(extra);
    await s.initialize();
    s.send(req(1, 'test/callPeer', { timeoutMs: 60_000 }));
    const out = (await s.next()) as { id: number };
    s.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } });
    const frames = [await s.next(), await s.next()];
    expect(frames).toContainEqual({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: out.id } });
    expect(frames).toContainEqual(expect.objectContaining({ id: 1, error: expect.objectContaining({ code: -32800 }) }));
    expect(s.sidecar.endpoint.peer.pendingCount).toBe(0);
  });

  it('bounds queued notifications, dropping and counting past the bound', async () => {
    const s = new InProcessSidecar(extra, { maxQueuedNotifications: 10 });
    await s.initialize();
    handledNotes = 0;
    for (let n = 0; n < 100; n++) s.send({ jsonrpc: '2.0', method: 'test/note', params: { n } });
    s.send(req(1, 'ping'));
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 1, result: {} }); // requests still answered
    expect(s.sidecar.endpoint.notifications.dropped).toBe(90);
    for (let i = 0; i < 10; i++) {
      release();
      await sleep(1);
    }
    await s.sidecar.endpoint.notifications.idle();
    expect(handledNotes).toBe(10);
  });

  it('refuses requests past the in-flight bound with -32003', async () => {
    const s = new InProcessSidecar(extra, { maxInFlightRequests: 2 });
    await s.initialize();
    s.send(req(1, 'test/sleep', { ms: 100 }));
    s.send(req(2, 'test/sleep', { ms: 100 }));
    s.send(req(3, 'test/sleep', { ms: 100 }));
    expect(await s.next()).toMatchObject({ id: 3, error: { code: -32003 } });
    const rest = [await s.next(), await s.next()];
    expect(rest.map((r) => (r as { id: number }).id).sort()).toEqual([1, 2]);
  });

  it('shutdown cancels running requests; exit then leaves with code 0', async () => {
    const s = new InProcessSidecar(extra);
    await s.initialize();
    s.send(req(1, 'test/sleep', { ms: 10_000 }));
    await sleep(10);
    s.send(req(2, 'shutdown'));
    expect(await s.next()).toMatchObject({ id: 1, error: { code: -32800 } });
    expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 2, result: {} });
    s.send({ jsonrpc: '2.0', method: 'exit' });
    await sleep(50);
    expect(s.exits).toEqual([0]);
  });

  it('answers a result that cannot be serialized with -32603 instead of crashing', async () => {
    const bad = defineMethod({ method: 'test/bigint', kind: 'request', params: z.object({}), handler: () => ({ n: 1n }) });
    const s = new InProcessSidecar([bad]);
    await s.initialize();
    s.send(req(1, 'test/bigint', {}));
    expect(await s.next()).toMatchObject({ id: 1, error: { code: -32603 } });
    // in a batch, only the entry that cannot be serialized fails; its siblings keep their results
    s.send([req(2, 'test/bigint', {}), req(3, 'ping')]);
    const batch = (await s.next()) as Array<{ id: number }>;
    expect(batch).toHaveLength(2);
    expect(batch.find((r) => r.id === 2)).toMatchObject({ error: { code: -32603 } });
    expect(batch.find((r) => r.id === 3)).toEqual({ jsonrpc: '2.0', id: 3, result: {} });
  });
});
