/**
 * OpenAI-compatible chat completions (`POST {baseURL}/chat/completions`), the API that Ollama,
 * vLLM, llama.cpp's server and OpenAI itself speak. Global fetch, a per-attempt timeout, and
 * retries with exponential backoff on 408/409/429/5xx, timeouts and connection errors,
 * honouring `retry-after` / `retry-after-ms`. The response body is validated with zod.
 *
 * Why not the `openai` SDK with a `baseURL` (as the Anthropic provider uses its SDK): checked
 * against test/lm/openai.test.ts with openai 6.x. (1) A retry-after longer than
 * `maxRetryAfterMs` must end the call at once with the wait attached (so the run's per-model
 * rate limiter pauses, test/lm/deadline.test.ts); the SDK ignores a retry-after over 60 s and
 * retries on its own backoff instead. (2) A local server (Ollama, llama.cpp) needs no key, and
 * none is sent; the SDK refuses to start without one and always sends `Authorization`.
 * (3) The reset time of an exhausted `x-ratelimit-*` limit counts as a retry-after here. Keeping
 * the SDK would mean `maxRetries: 0` and this retry loop anyway, for a fetch and a parse.
 */
import { ElexirionError } from '../errors.js';
import type { Logger } from 'pino';
import * as z from 'zod';
import { sleep } from '../util/sleep.js';
import { LMError, kindForStatus, scrubSecret } from './errors.js';
import { lmLogger } from './log.js';
import { configuredDefaults, observingFetch, type ProviderLM, type ResponseObserver } from './provider.js';
import { exhaustedResetMs, parseRetryAfterMs } from './rate_limiter.js';
import type { ChatMessage, GenerateOptions, LMResponse, RequestObserver, ResponseFormat } from './types.js';

export interface OpenAICompatibleLMOptions {
  /** e.g. `http://127.0.0.1:11434/v1`; `/chat/completions` is appended. */
  baseURL: string;
  model: string;
  /** Defaults to OPENAI_API_KEY; local servers usually need none. */
  apiKey?: string;
  maxTokens?: number;
  temperature?: number;
  stop?: string[];
  /** Per-attempt timeout. Default 120 s. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 2. */
  maxRetries?: number;
  /** First backoff delay when the server gives no retry-after. Default 500 ms, doubling, max 8 s. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /**
   * Longest server-advised wait (retry-after) the client sits out before retrying. A longer
   * one (a 429 asking for an hour) ends the call at once with the rate_limited error, its
   * retryAfterMs set: waiting that long inside one call would hide the stall. Default 60 s.
   */
  maxRetryAfterMs?: number;
  logger?: Logger;
  onResponse?: ResponseObserver;
  fetch?: typeof fetch;
}

const ChatCompletionSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullable().optional() }).loose(),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .min(1),
  usage: z
    .object({
      prompt_tokens: z.number().nonnegative().optional(),
      completion_tokens: z.number().nonnegative().optional(),
    })
    .loose()
    .nullable()
    .optional(),
});

/** A response format as the chat completions API spells it. */
export function responseFormatParam(format: ResponseFormat): Record<string, unknown> {
  if (format.type === 'json_object') return { type: 'json_object' };
  return {
    type: 'json_schema',
    json_schema: { name: format.name, schema: format.schema, ...(format.strict !== undefined ? { strict: format.strict } : {}) },
  };
}

/** One `data:` event of a streamed chat completion (the fields read). */
const ChatCompletionChunkSchema = z
  .object({
    model: z.string().optional(),
    choices: z
      .array(z.object({ delta: z.object({ content: z.string().nullable().optional() }).loose().optional() }).loose())
      .optional(),
    usage: z
      .object({ prompt_tokens: z.number().nonnegative().optional(), completion_tokens: z.number().nonnegative().optional() })
      .loose()
      .nullable()
      .optional(),
    error: z.unknown().optional(),
  })
  .loose();

/** Hands streamed text to a caller's onChunk (a throwing handler is ignored) and remembers whether any went out. */
class ChunkSink {
  started = false;
  constructor(private readonly onChunk: (text: string) => void) {}

  push(text: string): void {
    this.started = true;
    try {
      this.onChunk(text);
    } catch {
      // A listener bug must not fail the call.
    }
  }
}

const RETRY_STATUS = (s: number) => s === 408 || s === 409 || s === 429 || s >= 500;

class AttemptTimeout extends ElexirionError {
  override readonly code: string = 'ATTEMPT_TIMEOUT';
}

export class OpenAICompatibleLM implements ProviderLM {
  readonly provider = 'openai';
  readonly model: string;
  readonly billable = true;
  readonly countsRequests = true;
  /**
   * `response_format` json_schema and json_object. A server that does not know them answers
   * 400; JSONAdapter then asks again with the plain prompt.
   */
  readonly capabilities = { jsonSchema: true, jsonObject: true, streaming: true } as const;
  readonly endpoint: string;
  private readonly url: string;
  private readonly fetchFn: typeof fetch;
  private readonly logger: Logger;

  constructor(private readonly opts: OpenAICompatibleLMOptions) {
    let u: URL;
    try {
      u = new URL(opts.baseURL);
    } catch {
      throw new LMError(`openai: invalid baseURL ${JSON.stringify(opts.baseURL)}`, { kind: 'config', provider: 'openai' });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new LMError(`openai: baseURL must be http(s): ${opts.baseURL}`, { kind: 'config', provider: 'openai' });
    }
    this.model = opts.model;
    this.endpoint = opts.baseURL.replace(/\/+$/, '');
    this.url = `${this.endpoint}/chat/completions`;
    this.fetchFn = observingFetch(opts.fetch ?? globalThis.fetch, opts.onResponse);
    this.logger = (opts.logger ?? lmLogger()).child({ provider: 'openai', model: opts.model });
  }

  /** The configured sampling defaults (only those set): part of the cache key. */
  get defaultOptions(): Pick<GenerateOptions, 'temperature' | 'maxTokens' | 'stop'> {
    return configuredDefaults(this.opts);
  }

  async generate(messages: ChatMessage[], options: GenerateOptions = {}): Promise<LMResponse> {
    const temperature = options.temperature ?? this.opts.temperature;
    const maxTokens = options.maxTokens ?? this.opts.maxTokens;
    const stop = options.stop ?? this.opts.stop;
    const body = JSON.stringify({
      model: this.model,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
      ...(stop && stop.length > 0 ? { stop } : {}),
      ...(options.responseFormat ? { response_format: responseFormatParam(options.responseFormat) } : {}),
      // Usage comes in a last chunk only when asked for.
      ...(options.onChunk ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
    const apiKey = this.opts.apiKey ?? process.env['OPENAI_API_KEY'];
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: options.onChunk ? 'text/event-stream' : 'application/json' };
    if (apiKey) headers['authorization'] = `Bearer ${apiKey}`;

    const maxRetries = this.opts.maxRetries ?? 2;
    const timeoutMs = options.timeoutMs ?? this.opts.timeoutMs ?? 120_000;
    // Text already handed to onChunk cannot be taken back: a stream that fails after its first
    // chunk is not retried.
    const streamed = options.onChunk ? new ChunkSink(options.onChunk) : undefined;
    for (let attempt = 0; ; attempt++) {
      let err: LMError;
      try {
        return await this.attempt(body, headers, timeoutMs, options.signal, apiKey, options.requests, streamed);
      } catch (e) {
        err = e instanceof LMError ? e : new LMError(`openai: ${String(e)}`, { kind: 'network', provider: this.provider, cause: e });
      }
      const retryable = err.kind !== 'malformed_response' && err.kind !== 'aborted' && err.retryable && !streamed?.started;
      if (!retryable || attempt >= maxRetries) throw err;
      if (err.retryAfterMs !== undefined && err.retryAfterMs > (this.opts.maxRetryAfterMs ?? 60_000)) throw err;
      const base = this.opts.retryBaseDelayMs ?? 500;
      const backoff = Math.min(base * 2 ** attempt, this.opts.retryMaxDelayMs ?? 8000) * (1 - Math.random() * 0.25);
      const delay = err.retryAfterMs !== undefined && err.retryAfterMs > 0 && err.retryAfterMs < 2 ** 31 ? err.retryAfterMs : backoff;
      this.logger.info({ attempt: attempt + 1, kind: err.kind, status: err.status, delayMs: Math.round(delay) }, 'openai: retrying');
      try {
        await sleep(delay, options.signal);
      } catch (e) {
        throw new LMError('openai: request aborted', { kind: 'aborted', provider: this.provider, cause: e });
      }
    }
  }

  private async attempt(
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    apiKey: string | undefined,
    requests: RequestObserver | undefined,
    streamed?: ChunkSink,
  ): Promise<LMResponse> {
    const provider = this.provider;
    if (signal?.aborted) throw new LMError('openai: request aborted', { kind: 'aborted', provider });
    const ac = new AbortController();
    let ended = false;
    const end = (aborted: boolean) => {
      if (ended) return;
      ended = true;
      requests?.onEnd(aborted);
    };
    requests?.onStart();
    const timer = setTimeout(() => ac.abort(new AttemptTimeout('timeout')), timeoutMs);
    const onAbort = () => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn(this.url, { method: 'POST', headers, body, signal: ac.signal });
        if (streamed && res.ok && (res.headers.get('content-type') ?? '').includes('text/event-stream') && res.body) {
          const result = await this.readStream(res.body, streamed, apiKey);
          end(false);
          return result;
        }
        text = await res.text();
        end(false);
      } catch (e) {
        end(ac.signal.aborted || signal?.aborted === true);
        if (e instanceof LMError && !ac.signal.aborted && !signal?.aborted) throw e;
        if (signal?.aborted) throw new LMError('openai: request aborted', { kind: 'aborted', provider, cause: e });
        if (ac.signal.aborted) {
          throw new LMError(`openai: no response within ${timeoutMs} ms`, { kind: 'timeout', provider, cause: e });
        }
        throw new LMError(`openai: connection failed: ${(e as Error).message}`, { kind: 'network', provider, cause: e });
      }
      if (!res.ok) {
        // retry-after when given, else the reset time of an exhausted x-ratelimit-* limit.
        const retryAfterMs = parseRetryAfterMs(res.headers) ?? exhaustedResetMs(res.headers, Date.now());
        const kind = kindForStatus(res.status);
        throw new LMError(`openai: HTTP ${res.status} ${scrubSecret(text.slice(0, 300), apiKey)}`, {
          kind,
          provider,
          status: res.status,
          retryable: RETRY_STATUS(res.status),
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        });
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new LMError(`openai: response body is not JSON: ${scrubSecret(text.slice(0, 200), apiKey)}`, {
          kind: 'malformed_response',
          provider,
          status: res.status,
          cause: e,
        });
      }
      const parsed = ChatCompletionSchema.safeParse(json);
      if (!parsed.success) {
        throw new LMError(`openai: malformed chat completion: ${z.prettifyError(parsed.error).slice(0, 300)}`, {
          kind: 'malformed_response',
          provider,
          status: res.status,
        });
      }
      const d = parsed.data;
      return {
        text: d.choices[0]!.message.content ?? '',
        usage: { inputTokens: d.usage?.prompt_tokens ?? 0, outputTokens: d.usage?.completion_tokens ?? 0 },
        model: d.model ?? this.model,
        cached: false,
        costUsd: 0,
      };
    } finally {
      end(ac.signal.aborted || signal?.aborted === true);
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Reads a `stream: true` answer: server-sent events, one chat.completion.chunk per `data:`
   * line until `data: [DONE]`; each content delta goes to the sink; usage from the chunk that
   * carries it (`stream_options.include_usage`).
   */
  private async readStream(body: ReadableStream<Uint8Array>, sink: ChunkSink, apiKey: string | undefined): Promise<LMResponse> {
    const provider = this.provider;
    const decoder = new TextDecoder();
    let buffer = '';
    let text = '';
    let model: string | undefined;
    let usage: { prompt_tokens?: number | undefined; completion_tokens?: number | undefined } | undefined;
    let done = false;
    const onLine = (line: string) => {
      if (!line.startsWith('data:')) return; // comments, event names, ids
      const data = line.slice(5).trim();
      if (data === '[DONE]') {
        done = true;
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(data);
      } catch (e) {
        throw new LMError(`openai: stream event is not JSON: ${scrubSecret(data.slice(0, 200), apiKey)}`, { kind: 'malformed_response', provider, cause: e });
      }
      const parsed = ChatCompletionChunkSchema.safeParse(json);
      if (!parsed.success) {
        throw new LMError(`openai: malformed stream chunk: ${z.prettifyError(parsed.error).slice(0, 300)}`, { kind: 'malformed_response', provider });
      }
      const chunk = parsed.data;
      if (chunk.error) {
        throw new LMError(`openai: stream error: ${scrubSecret(JSON.stringify(chunk.error).slice(0, 300), apiKey)}`, { kind: 'server', provider });
      }
      model ??= chunk.model;
      if (chunk.usage) usage = chunk.usage;
      const delta = chunk.choices?.[0]?.delta?.content;
      if (typeof delta === 'string' && delta) {
        text += delta;
        sink.push(delta);
      }
    };
    const reader = body.getReader();
    try {
      while (!done) {
        const { done: eof, value } = await reader.read();
        buffer += eof ? decoder.decode() : decoder.decode(value, { stream: true });
        let nl: number;
        while (!done && (nl = buffer.indexOf('\n')) !== -1) {
          onLine(buffer.slice(0, nl).replace(/\r$/, ''));
          buffer = buffer.slice(nl + 1);
        }
        if (eof) {
          if (!done && buffer.trim()) onLine(buffer.trim());
          break;
        }
      }
    } finally {
      // Past [DONE], or given up on (a bad event): the rest of the body is not wanted.
      await reader.cancel().catch(() => {});
    }
    return {
      text,
      usage: { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: usage?.completion_tokens ?? 0 },
      model: model ?? this.model,
      cached: false,
      costUsd: 0,
    };
  }
}
