/** Small test doubles for the LM suites. */
import type { DestinationStream } from 'pino';
import { createLMLogger } from '../../src/lm/log.js';
import type { ProviderLM } from '../../src/lm/provider.js';
import { FakeClock as BaseFakeClock } from '../../src/util/clock.js';
import type { ChatMessage, GenerateOptions, LMResponse } from '../../src/lm/types.js';

/** A provider that answers instantly (or after `delayMs`) and counts calls and concurrency. */
export class ScriptedProvider implements ProviderLM {
  readonly provider: string;
  readonly billable: boolean;
  calls = 0;
  active = 0;
  maxActive = 0;
  readonly received: Array<{ messages: ChatMessage[]; options: GenerateOptions }> = [];

  constructor(
    readonly model = 'claude-sonnet-4-5',
    private readonly opts: {
      delayMs?: number;
      usage?: { inputTokens: number; outputTokens: number };
      provider?: string;
      billable?: boolean;
      fail?: (n: number) => Error | undefined;
    } = {},
  ) {
    this.provider = opts.provider ?? 'scripted';
    this.billable = opts.billable ?? true;
  }

  async generate(messages: ChatMessage[], options: GenerateOptions = {}): Promise<LMResponse> {
    const n = ++this.calls;
    this.received.push({ messages, options });
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (this.opts.delayMs) await new Promise((r) => setTimeout(r, this.opts.delayMs));
      const err = this.opts.fail?.(n);
      if (err) throw err;
      return {
        text: `answer ${n}`,
        usage: { ...(this.opts.usage ?? { inputTokens: 100, outputTokens: 20 }) },
        model: this.model,
        cached: false,
        costUsd: 0,
      };
    } finally {
      this.active--;
    }
  }
}

/** A pino logger whose lines are kept in `lines`. */
export function captureLogger(level = 'debug') {
  const lines: string[] = [];
  const destination: DestinationStream = { write: (s: string) => void lines.push(s) };
  return { logger: createLMLogger({ level, destination }), lines };
}

/** Manual time starting 2026-01-01: timers fire only in `advance`, promise callbacks run in between. */
export class FakeClock extends BaseFakeClock {
  constructor() {
    super(Date.parse('2026-01-01T00:00:00Z'));
  }
  override advance(ms: number): Promise<void> {
    return super.advance(ms, flush);
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

export const msgs = (q: string): ChatMessage[] => [
  { role: 'system', content: 'You answer questions.' },
  { role: 'user', content: q },
];

/** Polls `cond` every few ms until it holds (or fails after `timeoutMs`). */
export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('waitFor: condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
