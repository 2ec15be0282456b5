/**
 * A fake of Anthropic's Messages API on loopback, for driving the real @anthropic-ai/sdk.
 *
 *   const fake = await FakeAnthropic.start();
 *   fake.enqueue(reply.rateLimited({ retryAfterMs: 5 }), reply.ok('hello', { input: 12, output: 3 }));
 *   new Anthropic({ apiKey: 'k', baseURL: fake.baseURL, ... })
 *   fake.requests  // every request received, in order (method, path, headers, parsed body)
 *   await fake.close();
 *
 * POST /v1/messages checks what the SDK always sends: an `anthropic-version` header and a
 * credential (`x-api-key`, or `Authorization: Bearer` as SDK 1.x sends its apiKey); a request
 * without them gets 400/401 like the real API. Each request consumes the next scripted
 * behaviour; when the queue is empty `fallback(request)` answers (default: ok('ok')).
 * `hang` never answers (for client timeouts); `close()` destroys hung sockets.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeUsage {
  input?: number;
  output?: number;
}

export type FakeBehaviour =
  | { kind: 'ok'; text: string; usage?: FakeUsage; model?: string; stopReason?: string; headers?: Record<string, string>; delayMs?: number }
  | { kind: 'error'; status: number; type: string; message: string; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; body: string; contentType: string; headers?: Record<string, string> }
  | { kind: 'hang' }
  /** A `stream: true` answer: these server-sent events in order; `hang` keeps the stream open after them (for aborts). */
  | { kind: 'stream'; events: Array<{ event: string; data: unknown }>; hang?: boolean };

export interface RetryHint {
  /** `retry-after` header, in seconds (fractions allowed: the SDK parses a float). */
  retryAfter?: number;
  /** `retry-after-ms` header (the SDK prefers it): keeps tests fast. */
  retryAfterMs?: number;
  headers?: Record<string, string>;
}

function hintHeaders(h: RetryHint = {}): Record<string, string> {
  const out: Record<string, string> = { ...h.headers };
  if (h.retryAfter !== undefined) out['retry-after'] = String(h.retryAfter);
  if (h.retryAfterMs !== undefined) out['retry-after-ms'] = String(h.retryAfterMs);
  return out;
}

/** Builders for scripted behaviours. */
export const reply = {
  ok: (text: string, usage: FakeUsage = {}, extra: Partial<Omit<Extract<FakeBehaviour, { kind: 'ok' }>, 'kind' | 'text' | 'usage'>> = {}): FakeBehaviour => ({
    kind: 'ok',
    text,
    usage,
    ...extra,
  }),
  rateLimited: (h: RetryHint = {}): FakeBehaviour => ({
    kind: 'error',
    status: 429,
    type: 'rate_limit_error',
    message: 'Number of request tokens has exceeded your per-minute rate limit',
    headers: hintHeaders(h),
  }),
  overloaded: (h: RetryHint = {}): FakeBehaviour => ({
    kind: 'error',
    status: 529,
    type: 'overloaded_error',
    message: 'Overloaded',
    headers: hintHeaders(h),
  }),
  serverError: (h: RetryHint = {}): FakeBehaviour => ({
    kind: 'error',
    status: 500,
    type: 'api_error',
    message: 'Internal server error',
    headers: hintHeaders(h),
  }),
  error: (status: number, type: string, message: string, h: RetryHint = {}): FakeBehaviour => ({
    kind: 'error',
    status,
    type,
    message,
    headers: hintHeaders(h),
  }),
  /** A 200 whose body is not a Message (default: truncated JSON). */
  malformed: (body = '{"id":"msg_1","type":"message","content":[{"ty', contentType = 'application/json'): FakeBehaviour => ({
    kind: 'raw',
    status: 200,
    body,
    contentType,
  }),
  hang: (): FakeBehaviour => ({ kind: 'hang' }),
  /** A streamed Message writing `pieces` as text deltas (or, with `tool`, as that tool's input JSON deltas). */
  stream: (pieces: string[], o: { usage?: FakeUsage; model?: string; tool?: string; hangAfter?: number } = {}): FakeBehaviour => {
    const block = o.tool ? { type: 'tool_use', id: 'toolu_1', name: o.tool, input: {} } : { type: 'text', text: '' };
    const delta = (p: string) => (o.tool ? { type: 'input_json_delta', partial_json: p } : { type: 'text_delta', text: p });
    const events: Array<{ event: string; data: unknown }> = [
      {
        event: 'message_start',
        data: {
          type: 'message_start',
          message: { id: 'msg_stream', type: 'message', role: 'assistant', model: o.model ?? 'claude-haiku-4-5', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: o.usage?.input ?? 10, output_tokens: 1 } },
        },
      },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: block } },
      { event: 'ping', data: { type: 'ping' } },
      ...pieces.slice(0, o.hangAfter ?? pieces.length).map((p) => ({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: delta(p) } })),
    ];
    if (o.hangAfter !== undefined) return { kind: 'stream', events, hang: true };
    events.push(
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: o.tool ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: o.usage?.output ?? 5 } } },
      { event: 'message_stop', data: { type: 'message_stop' } },
    );
    return { kind: 'stream', events };
  },
};

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (undefined when not JSON). */
  body: any;
  rawBody: string;
}

export interface FakeAnthropicOptions {
  fallback?: (req: ReceivedRequest) => FakeBehaviour;
}

let msgCounter = 0;

export class FakeAnthropic {
  readonly requests: ReceivedRequest[] = [];
  private readonly queue: FakeBehaviour[] = [];
  private fallback: (req: ReceivedRequest) => FakeBehaviour;
  private readonly hung = new Set<http.ServerResponse>();

  private constructor(
    private readonly server: http.Server,
    readonly baseURL: string,
    opts: FakeAnthropicOptions,
  ) {
    this.fallback = opts.fallback ?? (() => reply.ok('ok'));
  }

  static async start(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
    let self: FakeAnthropic | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => self!.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new FakeAnthropic(server, `http://127.0.0.1:${port}`, opts);
    return self;
  }

  enqueue(...behaviours: FakeBehaviour[]): this {
    this.queue.push(...behaviours);
    return this;
  }

  setFallback(fn: (req: ReceivedRequest) => FakeBehaviour): this {
    this.fallback = fn;
    return this;
  }

  /** Requests that reached POST /v1/messages. */
  get messageRequests(): ReceivedRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages');
  }

  get pending(): number {
    return this.queue.length;
  }

  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, rawBody: string): void {
    // A request its client already gave up on (abort, timeout) must not consume a behaviour
    // scripted for a later request.
    if (req.socket.destroyed) return;
    let body: any;
    try {
      body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      body = undefined;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const received: ReceivedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body, rawBody };
    this.requests.push(received);

    if (req.method !== 'POST' || path !== '/v1/messages') {
      return this.sendError(res, 404, 'not_found_error', `no route ${req.method} ${path}`);
    }
    if (!req.headers['anthropic-version']) {
      return this.sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    const auth = req.headers['authorization'];
    const hasKey = Boolean(req.headers['x-api-key']) || (typeof auth === 'string' && /^Bearer \S+/.test(auth));
    if (!hasKey) {
      return this.sendError(res, 401, 'authentication_error', 'x-api-key header is required');
    }
    if (
      !body ||
      typeof body.model !== 'string' ||
      typeof body.max_tokens !== 'number' ||
      !Array.isArray(body.messages) ||
      body.messages.length === 0
    ) {
      return this.sendError(res, 400, 'invalid_request_error', 'model, max_tokens and messages are required');
    }

    const b = this.queue.shift() ?? this.fallback(received);
    switch (b.kind) {
      case 'hang':
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        return;
      case 'raw':
        res.writeHead(b.status, { 'content-type': b.contentType, ...b.headers });
        res.end(b.body);
        return;
      case 'error':
        return this.sendError(res, b.status, b.type, b.message, b.headers);
      case 'stream':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_fake_stream' });
        for (const e of b.events) res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
        if (b.hang) {
          this.hung.add(res);
          res.on('close', () => this.hung.delete(res));
        } else res.end();
        return;
      case 'ok': {
        const message = {
          id: `msg_fake_${++msgCounter}`,
          type: 'message',
          role: 'assistant',
          model: b.model ?? body.model,
          content: [{ type: 'text', text: b.text }],
          stop_reason: b.stopReason ?? 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: b.usage?.input ?? 10, output_tokens: b.usage?.output ?? 5 },
        };
        const send = () => {
          res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake_${msgCounter}`, ...b.headers });
          res.end(JSON.stringify(message));
        };
        if (b.delayMs) setTimeout(send, b.delayMs);
        else send();
        return;
      }
    }
  }

  private sendError(res: http.ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_fake_err', ...headers });
    res.end(JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_fake_err' }));
  }
}
