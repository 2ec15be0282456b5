// Bench-only Node peer for bench/elixir.bench.mjs. Same framing as the sidecar (4-byte
// big-endian length + JSON body on stdin/stdout).
//   node peer.mjs echo   - raw: on a frame {"run": N, "warmup": W} from Elixir, sends N+W frames one
//                          at a time to the Elixir echo, then a frame {"stats": {...}}
//   node peer.mjs rpc    - a minimal JSON-RPC sidecar: on the request bench/run {n, warmup} it
//                          sends n+warmup pipeline/execute requests one at a time and answers
//                          with the stats (plus peer_json_us: its own JSON.stringify + JSON.parse
//                          time per request); counts telemetry/events; answers bench/stats
// Latencies in µs. Exits on stdin EOF.

const [mode] = process.argv.slice(2);
const chunks = [];
let size = 0;
let onFrame = () => {};
const tele = { events: 0, batches: 0, dropped: 0, firstAt: 0, lastAt: 0 };

function frame(bodyBuf) {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(bodyBuf.length);
  process.stdout.write(Buffer.concat([head, bodyBuf]));
}
const sendJson = (m) => frame(Buffer.from(JSON.stringify(m)));

process.stdin.on('data', (c) => {
  chunks.push(c);
  size += c.length;
  let buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  chunks.length = 0;
  while (buf.length >= 4) {
    const len = buf.readUInt32BE(0);
    if (buf.length < 4 + len) break;
    const body = buf.subarray(4, 4 + len);
    buf = buf.subarray(4 + len);
    onFrame(body);
  }
  if (buf.length) chunks.push(buf);
  size = buf.length;
});
process.stdin.on('end', () => process.exit(0));

const params = {
  config: { workflow: { name: 'bench', steps: [{ name: 'a', type: 'claude', prompt: [{ type: 'static', content: 'Hello {{inputs.q}}' }] }] } },
  inputs: { q: 'what is the answer?' },
  context: { runId: 'bench-run', candidateId: 1, exampleId: 7 },
  timeoutMs: 10000,
};

function stats(lat) {
  const s = lat.slice().sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

function loop(N, WARM, sendOne, finish) {
  const lat = [];
  let i = 0;
  let t0 = 0n;
  const next = () => {
    if (i === N + WARM) return finish(stats(lat));
    t0 = process.hrtime.bigint();
    sendOne(i);
  };
  const done = () => {
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    if (i >= WARM) lat.push(us);
    i += 1;
    next();
  };
  next();
  return done;
}

if (mode === 'echo') {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'pipeline/execute', params }));
  let done = null;
  onFrame = (b) => {
    if (done) return done();
    const m = JSON.parse(b.toString('utf8'));
    done = loop(m.run, m.warmup, () => frame(body), (st) => { done = null; sendJson({ stats: st }); });
  };
} else {
  let done = null;
  // time this peer spends in its own JSON work on the execute path (stringify of each request,
  // parse of each reply), which the raw echo baseline does not do
  let jsonNs = 0n;
  onFrame = (body) => {
    const t = process.hrtime.bigint();
    const m = JSON.parse(body.toString('utf8'));
    if (done) jsonNs += process.hrtime.bigint() - t;
    if (m.method === 'initialize') {
      sendJson({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: '1.0', serverInfo: { name: 'bench-peer', version: '0' }, capabilities: { methods: [], optimizers: [], lmProviders: [], metrics: [] } } });
    } else if (m.method === 'bench/run') {
      let k = 0;
      jsonNs = 0n;
      done = loop(m.params.n, m.params.warmup, () => {
        const t = process.hrtime.bigint();
        const b = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: `x${k++}`, method: 'pipeline/execute', params }));
        jsonNs += process.hrtime.bigint() - t;
        frame(b);
      }, (st) => {
        done = null;
        const total = m.params.n + m.params.warmup;
        sendJson({ jsonrpc: '2.0', id: m.id, result: { ...st, peer_json_us: Number(jsonNs) / 1000 / total } });
      });
    } else if (m.method === 'telemetry/events') {
      const now = Number(process.hrtime.bigint() / 1000n);
      if (!tele.firstAt) tele.firstAt = now;
      tele.lastAt = now;
      tele.events += m.params.events.length;
      tele.batches += 1;
      tele.dropped += m.params.dropped;
    } else if (m.method === 'bench/stats') {
      sendJson({ jsonrpc: '2.0', id: m.id, result: tele });
    } else if (m.method === 'ping' || m.method === 'shutdown') {
      sendJson({ jsonrpc: '2.0', id: m.id, result: {} });
    } else if (m.method === undefined && done) {
      if (m.error) { process.stderr.write(`execute error: ${JSON.stringify(m.error)}\n`); process.exit(1); }
      done();
    }
  };
}
