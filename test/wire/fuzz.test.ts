import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../support/build.js';
import { aliasBombYaml } from '../support/hostile_files.js';
import { Rng } from '../../src/util/rng.js';
import { SidecarProcess } from '../support/sidecar_process.js';

type Id = string | number | null;
const NONE = Symbol('no reply');

const SEED = Number(process.env.WIRE_FUZZ_SEED ?? 20261127);
const FRAMES = 10_000;
const BURST = 100;
const MAX_FRAME = 8192;

beforeAll(() => ensureBuilt());

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const validId = (v: unknown): v is Id => v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** The documented reply rule for one message (PROTOCOL.md "Errors"), written apart from src/rpc. */
function replyIdFor(v: unknown): Id | typeof NONE {
  if (!isObj(v)) return null;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(v, k);
  const readable: Id = has('id') && validId(v.id) ? v.id : null;
  if (v.jsonrpc !== '2.0') return readable;
  if (has('id') && !validId(v.id)) return null;
  if (has('method')) {
    if (typeof v.method !== 'string') return readable;
    if (has('params') && (typeof v.params !== 'object' || v.params === null)) return readable;
    return has('id') ? (v.id as Id) : NONE;
  }
  if (has('id') && has('result') !== has('error')) return NONE;
  return readable;
}

/** Reply ids a frame must produce: undefined = no frame, else the ids of its reply entries. */
function expectedReply(body: Buffer): Id[] | undefined {
  if (body.length > MAX_FRAME) return [null];
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return [null];
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return [null];
    const ids = value.map(replyIdFor).filter((x): x is Id => x !== NONE);
    return ids.length ? ids : undefined;
  }
  const id = replyIdFor(value);
  return id === NONE ? undefined : [id];
}

/** Frames whose content would legitimately stop the server are not fuzz material. */
function stopsServer(body: Buffer): boolean {
  const text = body.toString('latin1');
  return text.includes('exit') || text.includes('shutdown');
}

function generator(seed: number) {
  const rng = new Rng(seed);
  const rnd = () => rng.random();
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  let counter = 0;
  const freshId = (): Id => (rnd() < 0.5 ? ++counter : `r${++counter}`);
  const methods = ['ping', 'initialize', 'optimize', 'lm/generate', 'telemetry/flush', 'no/such', '$/cancelRequest', 'rpc.discover', ''];
  const randomJson = (depth = 0): unknown => {
    const k = int(depth > 2 ? 5 : 7);
    switch (k) {
      case 0: return null;
      case 1: return rnd() < 0.5;
      case 2: return pick([0, -1, 1.5, 1e308, 2 ** 53, int(1000)]);
      case 3: return pick(['', 'x', 'ping', '\u00e9\u4e2d', '\ud83d\ude00', 'jsonrpc']);
      case 4: return pick([[], {}]);
      case 5: return Array.from({ length: int(4) }, () => randomJson(depth + 1));
      default: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['jsonrpc', 'id', 'method', 'params', 'result', 'error', 'a']), randomJson(depth + 1)]));
    }
  };
  const message = (): unknown => {
    switch (int(8)) {
      case 0:
      case 1:
        return { jsonrpc: '2.0', id: freshId(), method: 'ping', ...(rnd() < 0.3 ? { params: {} } : {}) };
      case 2:
        return { jsonrpc: '2.0', id: freshId(), method: 'initialize', params: rnd() < 0.5 ? { protocolVersion: pick(['1.0', '2.0', 1, '1.x']) } : randomJson() };
      case 3:
        return { jsonrpc: '2.0', id: freshId(), method: pick(methods), params: pick([{}, [], { progressToken: 1 }, randomJson()]) };
      case 4:
        return { jsonrpc: '2.0', method: pick(methods), params: { id: freshId() } };
      case 5:
        return { jsonrpc: '2.0', id: freshId(), result: randomJson() };
      case 6:
        return { jsonrpc: pick(['2.0', '1.0', 2, undefined]), id: pick([freshId(), {}, [], true]), method: pick([...methods, 3, null]) };
      default:
        return randomJson();
    }
  };
  const mutate = (b: Buffer): Buffer => {
    let out = b;
    for (let n = 1 + int(3); n > 0; n--) {
      const at = int(out.length + 1);
      switch (int(5)) {
        case 0: out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + int(4))]); break;
        case 1: out = Buffer.concat([out.subarray(0, at), Buffer.from(pick(['{', '}', '[', ']', '"', ',', ':', '\\', '0', 'null', '\u00ff'])), out.subarray(at)]); break;
        case 2: out = Buffer.concat([out.subarray(0, at), Buffer.from([int(256)]), out.subarray(at + 1)]); break;
        case 3: out = out.subarray(0, at); break;
        default: out = Buffer.concat([out.subarray(0, at), out.subarray(int(out.length)), out.subarray(at)]); break;
      }
    }
    return out;
  };
  const body = (): Buffer => {
    const r = rnd();
    if (r < 0.3) return Buffer.from(JSON.stringify(message()) ?? 'null');
    if (r < 0.6) return mutate(Buffer.from(JSON.stringify(message()) ?? 'null'));
    if (r < 0.7) return Buffer.from(Array.from({ length: int(64) }, () => int(256)));
    if (r < 0.85) return Buffer.from(JSON.stringify(Array.from({ length: int(7) }, message)));
    if (r < 0.95) return mutate(Buffer.from(JSON.stringify(Array.from({ length: 1 + int(5) }, message))));
    if (r < 0.99) return Buffer.from(JSON.stringify(randomJson()) ?? 'null');
    return Buffer.alloc(MAX_FRAME + 1 + int(2000), 0x20);
  };
  return () => {
    for (;;) {
      const b = body();
      if (!stopsServer(b)) return b;
    }
  };
}

it(`survives ${FRAMES} random and mutated frames, answering each request exactly once (seed ${SEED})`, async () => {
  const s = new SidecarProcess('packet4', ['--max-frame-bytes', String(MAX_FRAME)], { ELEXIRION_LOG_LEVEL: 'silent' });
  const next = generator(SEED);
  let sent = 0;
  let requestShaped = 0;
  for (let burst = 0; sent < FRAMES; burst++) {
    const expectedIds: Id[] = [];
    let expectedFrames = 0;
    const bodies: Buffer[] = [];
    for (let i = 0; i < BURST && sent < FRAMES; i++, sent++) {
      const b = next();
      bodies.push(b);
      const ids = expectedReply(b);
      if (ids) {
        expectedFrames += 1;
        expectedIds.push(...ids);
        requestShaped += ids.filter((x) => x !== null).length;
      }
      s.sendBody(b);
    }
    const probe = `probe-${burst}`;
    s.send({ jsonrpc: '2.0', method: 'ping', id: probe });
    const frames: unknown[] = [];
    for (;;) {
      const f = await s.next(10_000);
      if (!Array.isArray(f) && (f as { id?: unknown }).id === probe) break;
      frames.push(f);
    }
    const gotIds = frames.flatMap((f) => (Array.isArray(f) ? f : [f])).map((m) => (m as { id: Id }).id);
    const key = (x: Id) => JSON.stringify(x);
    const context = () => `burst ${burst} (seed ${SEED}) bodies: ${bodies.map((b) => JSON.stringify(b.toString('latin1').slice(0, 200))).join('\n')}`;
    expect(gotIds.map(key).sort(), context()).toEqual(expectedIds.map(key).sort());
    expect(frames.length, context()).toBe(expectedFrames);
  }
  expect(requestShaped).toBeGreaterThan(2000);
  expect(s.exitInfo).toBeUndefined(); // still alive
  s.send({ jsonrpc: '2.0', method: 'ping', id: 'final' });
  expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 'final', result: {} });
  expect((await s.close()).code).toBe(0);
  expect(s.stdoutProblems()).toEqual([]);
});

// Issue #12's attacks mixed into the random stream, on an initialized server: hostile pipeline
// files (alias bomb, 200 MB sparse YAML, FIFO, /dev/zero, a directory, a file used as a
// folder), ids above 2^53, 10 KB ids, and floods of bad frames. Still 0 crashes and exactly
// one reply per request (the file attacks answer -32012 asynchronously, so each burst waits
// for every expected reply, not only for its probe).
const ATTACK_FRAMES = Number(process.env.WIRE_FUZZ_ATTACK_FRAMES ?? 3000);
let hostileDir: string;
afterAll(() => {
  if (hostileDir) rmSync(hostileDir, { recursive: true, force: true });
});

function hostilePaths(): string[] {
  hostileDir = mkdtempSync(join(tmpdir(), 'fuzz-hostile-'));
  const bomb = join(hostileDir, 'bomb.yaml');
  writeFileSync(bomb, aliasBombYaml());
  const huge = join(hostileDir, 'huge.yaml');
  writeFileSync(huge, 'workflow:\n');
  truncateSync(huge, 200 * 1024 * 1024);
  const fifo = join(hostileDir, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);
  const folder = join(hostileDir, 'folder.yaml');
  mkdirSync(folder);
  const plain = join(hostileDir, 'plain');
  writeFileSync(plain, 'x');
  return [bomb, huge, fifo, '/dev/zero', folder, join(plain, 'pipeline.yaml')];
}

it(`survives the issue #12 attacks mixed into ${ATTACK_FRAMES} random frames, one reply per request (seed ${SEED})`, async () => {
  const paths = hostilePaths();
  const data = join(ROOT, 'examples/code_analysis/training_data');
  const s = new SidecarProcess('packet4', ['--max-frame-bytes', String(MAX_FRAME)], { ELEXIRION_LOG_LEVEL: 'silent' });
  await s.initialize('1.0');
  const random = generator(SEED + 1);
  const rng = new Rng(SEED + 2);
  let counter = 0;
  const attack = (): { body: Buffer; ids: Id[] | undefined } => {
    const r = rng.random();
    const id = `a${++counter}`;
    if (r < 0.4) {
      const path = paths[Math.floor(rng.random() * paths.length)]!;
      const req = { jsonrpc: '2.0', id, method: 'evaluate', params: { pipeline: { path }, trainingData: { dir: data }, lm: 'offline', outDir: join(hostileDir, 'out') } };
      return { body: Buffer.from(JSON.stringify(req)), ids: [id] };
    }
    if (r < 0.6) {
      // An id above 2^53, written raw: the reply carries it (the test's JSON.parse rounds both sides).
      const raw = `${9007199254740993n + BigInt(++counter)}`;
      const body = Buffer.from(`{"jsonrpc":"2.0","id":${raw},"method":"ping"}`);
      return { body, ids: [JSON.parse(raw) as number] };
    }
    if (r < 0.7) return { body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: `${'k'.repeat(4000)}${id}`, method: 'ping' })), ids: [`${'k'.repeat(4000)}${id}`] };
    return { body: Buffer.from('{"jsonrpc":"2.0","id":1,"method"'), ids: [null] }; // a bad frame (flood material)
  };
  let sent = 0;
  let attacks = 0;
  for (let burst = 0; sent < ATTACK_FRAMES; burst++) {
    const expectedIds: Id[] = [];
    for (let i = 0; i < BURST && sent < ATTACK_FRAMES; i++, sent++) {
      let b: Buffer;
      let ids: Id[] | undefined;
      if (rng.random() < 0.3) {
        ({ body: b, ids } = attack());
        attacks += 1;
      } else {
        b = random();
        ids = expectedReply(b);
      }
      if (ids) expectedIds.push(...ids);
      s.sendBody(b);
    }
    const probe = `probe-${burst}`;
    s.send({ jsonrpc: '2.0', method: 'ping', id: probe });
    const gotIds: Id[] = [];
    let probed = false;
    while (!probed || gotIds.length < expectedIds.length) {
      const f = await s.next(15_000);
      for (const m of Array.isArray(f) ? f : [f]) {
        const id = (m as { id: Id }).id;
        if (id === probe) probed = true;
        else gotIds.push(id);
      }
    }
    const key = (x: Id) => JSON.stringify(x);
    expect(gotIds.map(key).sort(), `burst ${burst} (seed ${SEED})`).toEqual(expectedIds.map(key).sort());
  }
  expect(attacks).toBeGreaterThan(ATTACK_FRAMES / 5);
  // The file attacks reached the file checks: refused -32012 each, naming the path.
  const refused = s.received.filter((m) => (m as { error?: { code?: number; data?: { path?: string } } }).error?.code === -32012);
  expect(refused.length).toBeGreaterThan(attacks / 5);
  expect(refused.every((m) => paths.includes((m as { error: { data: { path: string } } }).error.data.path))).toBe(true);
  expect(s.exitInfo).toBeUndefined(); // still alive
  s.send({ jsonrpc: '2.0', method: 'ping', id: 'final' });
  expect(await s.next()).toEqual({ jsonrpc: '2.0', id: 'final', result: {} });
  const t0 = performance.now();
  expect((await s.close()).code).toBe(0);
  expect(performance.now() - t0).toBeLessThan(2000);
  expect(s.stdoutProblems()).toEqual([]);
}, 240_000);
