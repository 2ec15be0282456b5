import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeElixir } from '../support/fake_elixir.js';
import { frame } from '../support/frames.js';
import { InProcessSidecar } from '../support/in_process.js';
import { ALL, T0, batch, executionEvent, initialize, sidecar, tempDataDir } from './telemetry_helpers.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

// telemetry/events -> the durable execution store -> telemetry/flush and telemetry/export,
// through the real sidecar process, as the Elixir forwarder drives it.
const open: FakeElixir[] = [];
const dirs: string[] = [];
function start(dir: string): FakeElixir {
  const e = sidecar(dir);
  open.push(e);
  return e;
}
function newDir(): string {
  const d = tempDataDir();
  dirs.push(d);
  return d;
}

afterEach(async () => {
  for (const e of open.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('telemetry over the wire', () => {
  it('stores what was sent: flush acknowledges it and export reports it exactly', async () => {
    const e = start(newDir());
    await initialize(e);
    const N = 1000;
    for (let b = 0; b < N; b += 200) e.send(batch(b, 200));
    const f = await e.request('telemetry/flush', {});
    expect(f.error).toBeUndefined();
    expect(f.result).toEqual({ durable: N });

    const r = await e.request('telemetry/export', ALL);
    expect(r.error).toBeUndefined();
    // brute force over the same events
    const events = Array.from({ length: N }, (_, i) => executionEvent(i));
    const ok = events.filter((ev) => ev.metadata.result.status === 'success').length;
    expect(r.result).toMatchObject({ total: N, successes: ok, failures: N - ok, success_rate: ok / N });
    for (const p of ['p0', 'p1', 'p2']) {
      const mine = events.filter((ev) => ev.metadata.pipeline === p);
      const s = mine.filter((ev) => ev.metadata.result.status === 'success').length;
      expect(r.result.pipelines[p]).toMatchObject({ count: mine.length, successes: s, success_rate: s / mine.length });
    }

    const one = await e.request('telemetry/export', { ...ALL, pipeline: 'p1' });
    expect(one.result.total).toBe(events.filter((ev) => ev.metadata.pipeline === 'p1').length);
    expect(Object.keys(one.result.pipelines)).toEqual(['p1']);
  });

  it('names the bad field of an export window', async () => {
    const e = start(newDir());
    await initialize(e);
    const r = await e.request('telemetry/export', { since: 'yesterday-ish' });
    expect(r.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['since'] }] } });
    const u = await e.request('telemetry/export', { since: '24h', until: 'soon' });
    expect(u.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['until'] }] } });
    const missing = await e.request('telemetry/export', {});
    expect(missing.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['since'] }] } });
  });

  it('drops and counts invalid batches and events without dying', async () => {
    const e = start(newDir());
    await initialize(e);
    e.send({ jsonrpc: '2.0', method: 'telemetry/events', params: { events: 'not a list' } });
    e.send({ jsonrpc: '2.0', method: 'telemetry/events', params: { events: [], dropped: -3 } });
    e.send({ jsonrpc: '2.0', method: 'telemetry/events', params: [1, 2, 3] });
    e.send({ jsonrpc: '2.0', method: 'telemetry/events' });
    e.send({
      jsonrpc: '2.0',
      method: 'telemetry/events',
      params: { events: [executionEvent(1), { event: 'nope' }, null, executionEvent(2)], dropped: 5 },
    });
    const f = await e.request('telemetry/flush', {});
    expect(f.result).toEqual({ durable: 2 });
    expect((await e.request('ping', {})).result).toEqual({});
    const s = await e.request('learning/status', {});
    expect(s.result.wire.invalidBatches).toBeGreaterThanOrEqual(3);
    expect(s.result.stats.ingest).toMatchObject({ invalidEvents: 2, clientDropped: 5, accepted: 2 });
    expect(e.child.exitCode).toBeNull();
  });

  it('keeps answering ping during heavy ingestion', async () => {
    const e = start(newDir());
    await initialize(e);
    await e.request('telemetry/export', { since: '1m' }); // opens the store
    const sent = 200 * 500;
    const pings: Array<Promise<unknown>> = [];
    const t0 = Date.now();
    for (let b = 0; b < sent; b += 500) {
      e.send(batch(b, 500));
      if (b % 20_000 === 0) pings.push(e.request('ping', {}).then((r) => r.result));
    }
    expect(await Promise.all(pings)).toEqual(pings.map(() => ({})));
    expect(Date.now() - t0).toBeLessThan(10_000);
    const f = await e.request('telemetry/flush', {});
    const s = await e.request('learning/status', {});
    // everything sent is stored, or shed and counted: never silently lost
    expect(f.result.durable + s.result.stats.store.shedRecords).toBe(sent);
  });

  it('loses no event acknowledged by telemetry/flush when killed -9, and recovers the store', async () => {
    const dir = newDir();
    const a = start(dir);
    await initialize(a);
    let next = 0;
    let acked = 0;
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 20; k++, next += 100) a.send(batch(next, 100));
      acked = (await a.request('telemetry/flush', {})).result.durable;
    }
    expect(acked).toBe(next);
    // keep sending, then kill -9 in the middle of it
    for (let k = 0; k < 50; k++, next += 100) a.send(batch(next, 100));
    const died = new Promise((r) => a.child.once('exit', r));
    a.child.kill('SIGKILL');
    await died;
    open.splice(open.indexOf(a), 1); // gone: nothing to close

    const b = start(dir);
    await initialize(b);
    const r = await b.request('telemetry/export', ALL);
    expect(r.error).toBeUndefined();
    expect(r.result.total).toBeGreaterThanOrEqual(acked);
    expect(r.result.total).toBeLessThanOrEqual(next);
    const s = await b.request('learning/status', {});
    expect(s.result.open).toBe(true);
    expect(s.result.stats.store.recovery.corrupt).toEqual([]);
    // the recovered store keeps taking events
    b.send(batch(next, 100));
    const f = await b.request('telemetry/flush', {});
    expect(f.error).toBeUndefined();
    const again = await b.request('telemetry/export', ALL);
    expect(again.result.total).toBe(r.result.total + 100);
  });

  for (const how of ['stdin EOF', 'SIGTERM'] as const) {
    it(`stores every event received before ${how} (flushed at exit, within the exit budget)`, async () => {
      const dir = newDir();
      const a = start(dir);
      await initialize(a);
      await a.request('telemetry/export', { since: '1m' }); // opens the store
      for (let b = 0; b < 5000; b += 250) a.send(batch(b, 250));
      await a.request('ping', {}); // every batch has been read and ingested
      const t0 = Date.now();
      const exited = new Promise<number | null>((r) => a.child.once('exit', (code) => r(code)));
      if (how === 'SIGTERM') a.child.kill('SIGTERM');
      else a.child.stdin.end();
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(1500);
      open.splice(open.indexOf(a), 1);

      const b = start(dir);
      await initialize(b);
      expect((await b.request('telemetry/export', ALL)).result.total).toBe(5000);
    });
  }

  it('answers telemetry/flush at once, without opening the store, before any telemetry came', async () => {
    const e = start(newDir());
    await initialize(e);
    expect((await e.request('telemetry/flush', {})).result).toEqual({ durable: 0 });
    expect((await e.request('learning/status', {})).result.open).toBe(false);
  });

  it('refuses to share a data directory with a live sidecar, and takes it over once that one is gone', async () => {
    const dir = newDir();
    const a = start(dir);
    await initialize(a);
    expect((await a.request('telemetry/export', { since: '1m' })).error).toBeUndefined();
    const b = start(dir);
    await initialize(b);
    const refused = await b.request('telemetry/export', { since: '1m' });
    expect(refused.error?.message).toMatch(/in use by another sidecar/);
    await a.close();
    open.splice(open.indexOf(a), 1);
    expect((await b.request('telemetry/export', { since: '1m' })).error).toBeUndefined();
  });

  it('answers learning requests with -32600 when learning is disabled, dropping telemetry', async () => {
    const e = start(newDir());
    await initialize(e, { learning: { enabled: false } });
    e.send(batch(0, 10));
    const f = await e.request('telemetry/flush', {});
    expect(f.error?.code).toBe(-32600);
    const s = await e.request('learning/status', {});
    expect(s.result).toMatchObject({ enabled: false, open: false, wire: { droppedWhileDisabled: 10 } });
  });

  it('refuses initialize options of the wrong shape, naming the field', async () => {
    const e = start(newDir());
    const r = await e.request('initialize', {
      protocolVersion: '1.0',
      options: { learning: { pipelines: { x: { trainingData: 'dir' } } } },
    });
    expect(r.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['options', 'learning', 'pipelines', 'x', 'path'] }] } });
    const cron = await e.request('initialize', {
      protocolVersion: '1.0',
      options: { learning: { schedule: { timeZone: 'Mars/Olympus', daily: '0 25 * * *' } } },
    });
    expect(cron.error).toMatchObject({
      code: -32602,
      data: { issues: [{ path: ['options', 'learning', 'schedule', 'timeZone'] }, { path: ['options', 'learning', 'schedule', 'daily'] }] },
    });
    // still uninitialized: the client may retry
    await initialize(e);
  });
});

describe('telemetry/events while the store opens (in process)', () => {
  it('holds at most 100,000 events waiting for the open, sheds and counts the rest, keeps order for the rest', async () => {
    const dir = newDir();
    const s = new InProcessSidecar([], { dataDir: dir });
    await s.initialize();
    // 200 batches of 1000 events (one valid execution + 999 that the ingester rejects), all in
    // one chunk: every one arrives before the store (opened by the first) is open.
    const frames: Buffer[] = [];
    for (let b = 0; b < 200; b++) {
      const events: unknown[] = [executionEvent(b)];
      for (let k = 1; k < 1000; k++) events.push({});
      frames.push(frame('packet4', JSON.stringify({ jsonrpc: '2.0', method: 'telemetry/events', params: { events, dropped: 0 } })));
    }
    s.input.write(Buffer.concat(frames));
    s.send({ jsonrpc: '2.0', id: 1, method: 'telemetry/flush' });
    const f = (await s.next(10_000)) as Json;
    s.send({ jsonrpc: '2.0', id: 2, method: 'learning/status' });
    const st = (await s.next()) as Json;
    expect(st.result.wire).toMatchObject({ batches: 100, shedWhileOpening: 100 * 1000 });
    expect(f.result).toEqual({ durable: 100 });
    s.send({ jsonrpc: '2.0', id: 3, method: 'telemetry/export', params: ALL });
    const ex = (await s.next()) as Json;
    expect(ex.result.total).toBe(100);
    // the first 100 batches were kept (event i has time T0 + i), not an arbitrary subset
    s.send({ jsonrpc: '2.0', id: 4, method: 'telemetry/export', params: { since: String(T0), until: String(T0 + 99) } });
    expect(((await s.next()) as Json).result.total).toBe(100);
    await s.sidecar.terminate(0, 'test');
  });
  it('refuses a second initialize with -32600 even when its schedule is invalid', async () => {
    const s = new InProcessSidecar([], { dataDir: newDir() });
    await s.initialize();
    s.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'initialize',
      params: { protocolVersion: '1.0', options: { learning: { schedule: { daily: 'not cron' } } } },
    });
    expect(await s.next()).toMatchObject({ id: 2, error: { code: -32600 } });
    await s.sidecar.terminate(0, 'test');
  });
});
