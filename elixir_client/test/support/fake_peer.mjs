#!/usr/bin/env node
// A test-only stand-in for the sidecar, used ONLY where the real sidecar cannot yet be made
// to do something (issue pipeline/execute callbacks, run a slow request, count telemetry).
// It speaks the same wire: JSON-RPC 2.0 in 4-byte big-endian length frames on stdin/stdout,
// and exits on stdin EOF like the real one. Test-control methods live under "test/".
let buf = Buffer.alloc(0);
let nextId = 1;
const pending = new Map(); // our outgoing id -> resolve
const running = new Map(); // incoming id -> {timer, resolve}
const stats = { telemetryEvents: 0, telemetryBatches: 0, dropped: 0, notifications: {} };

function send(msg) {
  const body = Buffer.from(JSON.stringify(msg));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  process.stdout.write(Buffer.concat([head, body]));
}
const reply = (id, result) => send({ jsonrpc: '2.0', id, result });
const fail = (id, code, message) => send({ jsonrpc: '2.0', id, error: { code, message } });

function request(method, params) {
  const id = `n${nextId++}`;
  send({ jsonrpc: '2.0', id, method, params });
  return { id, promise: new Promise((resolve) => pending.set(id, resolve)) };
}

const execParams = (p, i) => ({
  config: p.config ?? { workflow: { name: 'fake', steps: [] } },
  inputs: { ...(p.inputs ?? {}), i },
  context: p.context ?? { runId: 'run-1' },
  timeoutMs: p.timeoutMs ?? 10000,
});

async function handle(msg) {
  const { id, method, params = {} } = msg;
  switch (method) {
    case 'initialize':
      return reply(id, { protocolVersion: '1.0', serverInfo: { name: 'fake-peer', version: '0' }, capabilities: { methods: [], optimizers: [], lmProviders: [], metrics: [] } });
    case 'ping':
      return reply(id, {});
    case 'shutdown':
      return reply(id, {});
    case 'exit':
      return process.exit(0);
    case 'lm/generate': {
      const last = params.messages[params.messages.length - 1].content;
      const sys = params.messages.find((m) => m.role === 'system');
      const text = params.lm === 'json' ? JSON.stringify({ answer: last.length, nested: { word: 'ok' } }) : `echo(${sys ? sys.content + '|' : ''}${last})`;
      return reply(id, { text, usage: { inputTokens: 3, outputTokens: 2 }, model: 'fake', cached: false, costUsd: 0.001, runId: params.runId ?? null });
    }
    case 'test/execute': {
      // Issue `count` pipeline/execute requests at once; answer with every reply, in order.
      const reqs = Array.from({ length: params.count ?? 1 }, (_, i) => request('pipeline/execute', execParams(params, i)));
      if (params.cancelAfterMs !== undefined) {
        setTimeout(() => reqs.forEach((r) => send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: r.id } })), params.cancelAfterMs);
      }
      const replies = await Promise.all(reqs.map((r) => r.promise));
      return reply(id, { replies });
    }
    case 'test/cancel_outgoing': {
      // $/cancelRequest for every pipeline/execute still waiting for Elixir's reply.
      const ids = [...pending.keys()];
      ids.forEach((i) => send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: i } }));
      return reply(id, { cancelled: ids.length });
    }
    case 'test/call': {
      const r = request(params.method, params.params ?? {});
      return reply(id, { reply: await r.promise });
    }
    case 'test/sleep': {
      // Answers after params.ms unless $/cancelRequest arrives first (then -32800).
      const t = setTimeout(() => { running.delete(id); reply(id, { slept: params.ms }); }, params.ms);
      running.set(id, t);
      return;
    }
    case 'test/progress': {
      for (let i = 1; i <= (params.count ?? 3); i++) {
        send({ jsonrpc: '2.0', method: '$/progress', params: { token: params.progressToken, value: { phase: 'trial', trial: i } } });
        await new Promise((r) => setTimeout(r, 5));
      }
      return reply(id, { done: true });
    }
    case 'test/stats':
      return reply(id, { ...stats, running: running.size });
    case 'optimize': {
      // A run that reports progress once, then runs until cancelled (or 30 s).
      send({ jsonrpc: '2.0', method: '$/progress', params: { token: params.progressToken, value: { phase: 'baseline' } } });
      const t = setTimeout(() => { running.delete(id); reply(id, { runId: 'fake' }); }, 30000);
      running.set(id, t);
      return;
    }
    case 'test/stop_reading':
      // Stops reading stdin for params.ms: a hung sidecar whose stdin pipe fills up.
      process.stdin.pause();
      setTimeout(() => process.stdin.resume(), params.ms ?? 60000);
      return reply(id, {});
    case 'test/log':
      send({ jsonrpc: '2.0', method: 'log', params: { level: 'warn', message: params.message } });
      return reply(id, {});
    case 'telemetry/events':
      stats.telemetryBatches += 1;
      stats.telemetryEvents += params.events.length;
      stats.dropped += params.dropped;
      stats.last = params.events[params.events.length - 1] ?? stats.last;
      stats.first = stats.first ?? params.events[0];
      return;
    case '$/cancelRequest': {
      const t = running.get(params.id);
      if (t) { clearTimeout(t); running.delete(params.id); fail(params.id, -32800, 'Request cancelled'); }
      return;
    }
    default:
      if (id !== undefined) fail(id, -32601, `Method not found: ${method}`);
  }
}

process.stdin.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  while (buf.length >= 4) {
    const len = buf.readUInt32BE(0);
    if (buf.length < 4 + len) break;
    const msg = JSON.parse(buf.subarray(4, 4 + len).toString('utf8'));
    buf = buf.subarray(4 + len);
    if (msg.method === undefined && msg.id !== undefined && pending.has(msg.id)) {
      const resolve = pending.get(msg.id);
      pending.delete(msg.id);
      resolve(msg.error ? { error: msg.error } : { result: msg.result });
    } else {
      handle(msg);
    }
  }
});
process.stdin.on('end', () => process.exit(0));
