/** A tiny scripted fake of an OpenAI-compatible `POST /v1/chat/completions` on loopback. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type OpenAIBehaviour =
  | { kind: 'ok'; text: string; usage?: { prompt: number; completion: number } | null; model?: string }
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  | { kind: 'raw'; body: string }
  | { kind: 'hang' }
  /**
   * A `stream: true` answer: one chat.completion.chunk per piece, then a usage chunk and
   * `data: [DONE]`; `hangAfter` stops after that many pieces and never ends (for aborts).
   */
  | { kind: 'sse'; pieces: string[]; usage?: { prompt: number; completion: number }; hangAfter?: number; model?: string; rawEvent?: string };

export class FakeOpenAI {
  readonly requests: Array<{ path: string; headers: http.IncomingHttpHeaders; body: any }> = [];
  private readonly queue: OpenAIBehaviour[] = [];
  private readonly hung = new Set<http.ServerResponse>();
  /** Hung streams whose client went away (an abort closes the connection). */
  closedByClient = 0;
  private constructor(
    private readonly server: http.Server,
    readonly baseURL: string,
  ) {}

  static async start(): Promise<FakeOpenAI> {
    let self: FakeOpenAI | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => self!.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new FakeOpenAI(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`);
    return self;
  }

  enqueue(...b: OpenAIBehaviour[]): this {
    this.queue.push(...b);
    return this;
  }

  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
    this.closedByClient = 0;
  }

  async close(): Promise<void> {
    for (const r of this.hung) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    if (req.socket.destroyed) return; // the client gave up: do not consume a scripted behaviour
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    this.requests.push({ path: req.url ?? '', headers: req.headers, body });
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end('{"error":{"message":"not found"}}');
      return;
    }
    const b = this.queue.shift() ?? { kind: 'ok', text: 'ok' };
    switch (b.kind) {
      case 'hang':
        this.hung.add(res);
        return;
      case 'sse': {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const model = b.model ?? body?.model;
        const send = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
        b.pieces.forEach((p, i) => {
          if (b.hangAfter !== undefined && i >= b.hangAfter) return;
          send({ id: 'c1', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content: p }, finish_reason: null }] });
        });
        if (b.rawEvent !== undefined) res.write(`${b.rawEvent}\n\n`);
        if (b.hangAfter !== undefined) {
          this.hung.add(res);
          res.on('close', () => {
            this.hung.delete(res);
            this.closedByClient += 1;
          });
          return;
        }
        send({ id: 'c1', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
        send({ id: 'c1', object: 'chat.completion.chunk', model, choices: [], usage: { prompt_tokens: b.usage?.prompt ?? 7, completion_tokens: b.usage?.completion ?? 3 } });
        res.end('data: [DONE]\n\n');
        return;
      }
      case 'raw':
        res.writeHead(200, { 'content-type': 'application/json' }).end(b.body);
        return;
      case 'status':
        res
          .writeHead(b.status, { 'content-type': 'application/json', ...b.headers })
          .end(b.body ?? JSON.stringify({ error: { message: `status ${b.status}` } }));
        return;
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            model: b.model ?? body?.model,
            choices: [{ index: 0, message: { role: 'assistant', content: b.text }, finish_reason: 'stop' }],
            ...(b.usage === null
              ? {}
              : { usage: { prompt_tokens: b.usage?.prompt ?? 7, completion_tokens: b.usage?.completion ?? 3, total_tokens: 10 } }),
          }),
        );
        return;
    }
  }
}
