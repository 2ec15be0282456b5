/**
 * An OpenAI-compatible chat server on loopback that answers like the offline stand-in LM
 * (the output of the most similar worked example in the prompt, else a placeholder) and can
 * go down from a chosen request on: HTTP 429, HTTP 500, or connections dropped without an
 * answer, until `heal()`. Every request is counted, the failed ones too.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { PipelineDemoLM } from '../../src/pipeline/offline.js';

export type Fault = '429' | '500' | 'drop';

export class FaultyProvider {
  requests = 0;
  failed = 0;
  private faultFrom: number | undefined;
  private fault: Fault = '500';
  private readonly answerer = new PipelineDemoLM(new DummyLM());

  private constructor(
    private readonly server: http.Server,
    readonly baseURL: string,
  ) {}

  static async start(): Promise<FaultyProvider> {
    let self: FaultyProvider | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void self!.handle(res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new FaultyProvider(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`);
    return self;
  }

  /** The LM spec the sidecar uses to reach this server. */
  get spec(): string {
    return `openai:${this.baseURL}#fake-model`;
  }

  /** From the `n`-th request on (1-based, counting from now on), every request fails with `fault`. */
  failFrom(n: number, fault: Fault): this {
    this.faultFrom = this.requests + n;
    this.fault = fault;
    return this;
  }

  heal(): this {
    this.faultFrom = undefined;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(res: http.ServerResponse, raw: string): Promise<void> {
    this.requests += 1;
    if (this.faultFrom !== undefined && this.requests >= this.faultFrom) {
      this.failed += 1;
      // retry-after-ms keeps the provider's own retries fast; they fail all the same.
      if (this.fault === 'drop') res.socket?.destroy();
      else res.writeHead(Number(this.fault), { 'content-type': 'application/json', 'retry-after-ms': '1' }).end(JSON.stringify({ error: { message: `fault ${this.fault}` } }));
      return;
    }
    const body = JSON.parse(raw) as { model: string; messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }> };
    const { text } = await this.answerer.generate(body.messages);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: `chatcmpl-${this.requests}`,
        object: 'chat.completion',
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: Math.ceil(raw.length / 4), completion_tokens: Math.ceil(text.length / 4), total_tokens: 0 },
      }),
    );
  }
}
