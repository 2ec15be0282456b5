/**
 * An OpenAI-compatible chat-completions server on loopback that answers the QA programs of
 * test/optimizers/helpers.ts and COUNTS every request it receives: what a provider would bill,
 * to compare with the usage a run reports. The answer to question i (the `question` field of
 * the last user message) is right unless `wrong(i)`; any other prompt (MIPROv2's dataset summary
 * and instruction proposals) gets every field those signatures ask for.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderChatAnswer } from '../../src/dspy/dummy_lm.js';

export class CountingOpenAI {
  requests = 0;
  lastArrival = 0;

  /** Resolves once no request has arrived for `quietMs` (a cancelled request can land late). */
  async settled(quietMs = 100): Promise<void> {
    while (Date.now() - this.lastArrival < quietMs) await new Promise((r) => setTimeout(r, quietMs / 4));
  }

  private constructor(
    private readonly server: http.Server,
    readonly baseURL: string,
  ) {}

  static async start(opts: { wrong?: (i: number) => boolean; latencyMs?: number } = {}): Promise<CountingOpenAI> {
    let self: CountingOpenAI | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      // Counted when the request arrives (an aborted client may never finish its body).
      self!.requests += 1;
      self!.lastArrival = Date.now();
      req.on('end', () => {
        const text = answerFor(Buffer.concat(chunks).toString('utf8'), opts.wrong);
        const reply = () =>
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              model: 'counted',
              choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 10, completion_tokens: 5 },
            }),
          );
        if (opts.latencyMs) setTimeout(reply, opts.latencyMs);
        else reply();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new CountingOpenAI(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`);
    return self;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function answerFor(raw: string, wrong: ((i: number) => boolean) | undefined): string {
  let messages: Array<{ role: string; content: string }> = [];
  try {
    messages = (JSON.parse(raw) as { messages: typeof messages }).messages;
  } catch {
    /* answered generically below */
  }
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  // The QA program's own prompt ends with its input field; the proposer's prompts have others.
  const asked = /\[\[ ## question ## \]\]\s*Q(\d{3})\?/.exec(lastUser);
  if (asked) {
    const i = Number(asked[1]);
    return renderChatAnswer({ answer: wrong?.(i) ? `wrong-${i}` : `A${i}` });
  }
  return renderChatAnswer({
    observations: 'short questions with short answers',
    summary: 'questions answered with a code',
    proposed_instruction: 'Answer the question with its code.',
    new_instruction: 'Answer with one JSON object holding every key the task asks for.', // GEPA's reflection
  });
}
