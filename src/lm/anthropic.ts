/**
 * Anthropic Messages API through the official SDK. The SDK does the retrying (429, 408, 409,
 * 5xx, 529 and connection errors, `maxRetries` times, honouring `retry-after`/`retry-after-ms`,
 * else exponential backoff from 0.5 s); this class maps the final outcome to `LMError`.
 * The API key comes from the `apiKey` option or ANTHROPIC_API_KEY and is never logged.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';
import * as z from 'zod';
import { LMError, kindForStatus, scrubSecret } from './errors.js';
import { lmLogger } from './log.js';
import { configuredDefaults, observingFetch, type ProviderLM, type ResponseObserver } from './provider.js';
import { parseRetryAfterMs } from './rate_limiter.js';
import type { ChatMessage, GenerateOptions, LMResponse, RequestObserver, ResponseFormat } from './types.js';

type AnthropicSdk = typeof import('@anthropic-ai/sdk');
let sdk: AnthropicSdk | undefined;

/**
 * The SDK, imported when the first client is made rather than with this module: it is over a
 * megabyte of code, and every sidecar loads this module (the LM factory names every provider)
 * whether or not its runs call Anthropic.
 */
async function loadSdk(): Promise<AnthropicSdk> {
  sdk ??= await import('@anthropic-ai/sdk');
  return sdk;
}

export interface AnthropicLMOptions {
  model: string;
  /** Defaults to ANTHROPIC_API_KEY. */
  apiKey?: string;
  /** Defaults to ANTHROPIC_BASE_URL, then https://api.anthropic.com. */
  baseURL?: string;
  /** Default `max_tokens` when a call gives none. Default 1024. */
  maxTokens?: number;
  temperature?: number;
  stop?: string[];
  /** Per-attempt timeout. Default 120 s. */
  timeoutMs?: number;
  /** SDK retries after the first attempt. Default 2. */
  maxRetries?: number;
  logger?: Logger;
  /** Level for the SDK's own log lines (routed to our logger, never stdout). Default 'warn'. */
  sdkLogLevel?: 'off' | 'error' | 'warn' | 'info' | 'debug';
  onResponse?: ResponseObserver;
  fetch?: typeof fetch;
}

const MessageResponseSchema = z.object({
  id: z.string(),
  type: z.literal('message'),
  role: z.literal('assistant'),
  model: z.string(),
  content: z.array(
    z.object({ type: z.string(), text: z.string().optional(), name: z.string().optional(), input: z.unknown().optional(), json: z.string().optional() }).loose(),
  ),
  stop_reason: z.string().nullable().optional(),
  usage: z
    .object({
      input_tokens: z.number().int().nonnegative(),
      output_tokens: z.number().int().nonnegative(),
    })
    .loose(),
});

/** The stream events read (others, such as `ping`, pass as `other`). */
const StreamEventSchema = z.union([
  z.object({
    type: z.literal('message_start'),
    message: z
      .object({
        id: z.string(),
        model: z.string(),
        usage: z.object({ input_tokens: z.number().int().nonnegative(), output_tokens: z.number().int().nonnegative().optional() }).loose(),
      })
      .loose(),
  }),
  z.object({
    type: z.literal('content_block_start'),
    index: z.number().int().nonnegative().max(10_000),
    content_block: z.object({ type: z.string(), text: z.string().optional(), name: z.string().optional() }).loose(),
  }),
  z.object({
    type: z.literal('content_block_delta'),
    index: z.number().int().nonnegative().max(10_000),
    delta: z.object({ type: z.string(), text: z.string().optional(), partial_json: z.string().optional() }).loose(),
  }),
  z.object({
    type: z.literal('message_delta'),
    delta: z.object({ stop_reason: z.string().nullable().optional() }).loose(),
    usage: z.object({ output_tokens: z.number().int().nonnegative().optional(), input_tokens: z.number().int().nonnegative().nullable().optional() }).loose(),
  }),
  z.object({ type: z.enum(['content_block_stop', 'message_stop', 'ping']) }).loose(),
]);

export class AnthropicLM implements ProviderLM {
  readonly provider = 'anthropic';
  readonly model: string;
  readonly billable = true;
  readonly countsRequests = true;
  /** JSON schema and JSON object answers through one forced tool (see `toolFor`). */
  readonly capabilities = { jsonSchema: true, jsonObject: true, streaming: true } as const;
  private client: Anthropic | undefined;
  private readonly logger: Logger;

  constructor(private readonly opts: AnthropicLMOptions) {
    this.model = opts.model;
    this.logger = (opts.logger ?? lmLogger()).child({ provider: 'anthropic', model: opts.model });
  }

  /** The configured sampling defaults (only those set): part of the cache key. */
  get defaultOptions(): Pick<GenerateOptions, 'temperature' | 'maxTokens' | 'stop'> {
    return configuredDefaults(this.opts);
  }

  private async getClient(): Promise<Anthropic> {
    if (this.client) return this.client;
    const apiKey = this.opts.apiKey ?? process.env['ANTHROPIC_API_KEY'];
    if (!apiKey) {
      throw new LMError('no Anthropic API key: set ANTHROPIC_API_KEY or pass apiKey', {
        kind: 'auth',
        provider: this.provider,
      });
    }
    const log = this.logger;
    const sdkLogger = {
      error: (msg: string, ...args: unknown[]) => log.error({ sdk: args }, String(msg)),
      warn: (msg: string, ...args: unknown[]) => log.warn({ sdk: args }, String(msg)),
      info: (msg: string, ...args: unknown[]) => log.info({ sdk: args }, String(msg)),
      debug: (msg: string, ...args: unknown[]) => log.debug({ sdk: args }, String(msg)),
    };
    const { default: AnthropicClient } = await loadSdk();
    this.client ??= new AnthropicClient({
      apiKey,
      ...(this.opts.baseURL !== undefined ? { baseURL: this.opts.baseURL } : {}),
      timeout: Math.max(1, Math.round(this.opts.timeoutMs ?? 120_000)),
      maxRetries: this.opts.maxRetries ?? 2,
      logger: sdkLogger,
      logLevel: this.opts.sdkLogLevel ?? 'warn',
      openTelemetry: false,
      fetch: countingFetch(observingFetch(this.opts.fetch ?? globalThis.fetch, this.opts.onResponse)),
    });
    return this.client;
  }

  async generate(messages: ChatMessage[], options: GenerateOptions = {}): Promise<LMResponse> {
    const client = await this.getClient();
    const system = messages
      .filter((m) => m.role === 'system')
      .map((m) => m.content)
      .join('\n\n');
    const turns = messages
      .filter((m) => m.role !== 'system')
      .map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content }));
    if (turns.length === 0) {
      throw new LMError('anthropic: at least one user message is required', {
        kind: 'bad_request',
        provider: this.provider,
      });
    }
    const temperature = options.temperature ?? this.opts.temperature;
    const stop = options.stop ?? this.opts.stop;
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: this.model,
      max_tokens: options.maxTokens ?? this.opts.maxTokens ?? 1024,
      messages: turns,
      ...(system ? { system } : {}),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(stop && stop.length > 0 ? { stop_sequences: stop } : {}),
      ...(options.responseFormat ? toolFor(options.responseFormat) : {}),
    };
    let raw: unknown;
    const requestOptions = {
      // The SDK insists on a positive integer.
      ...(options.timeoutMs !== undefined ? { timeout: Math.max(1, Math.round(options.timeoutMs)) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    try {
      // The SDK retries on its own: each request it sends is reported (countingFetch).
      raw = await callRequests.run(options.requests, () =>
        options.onChunk ? this.streamMessage(client, params, options, options.onChunk) : client.messages.create(params, requestOptions),
      );
    } catch (e) {
      const err = await this.mapError(e, options.signal);
      const key = this.opts.apiKey ?? process.env['ANTHROPIC_API_KEY'];
      const clean = scrubSecret(err.message, key);
      if (clean === err.message) throw err;
      throw new LMError(clean, {
        kind: err.kind,
        provider: err.provider,
        retryable: err.retryable,
        ...(err.status !== undefined ? { status: err.status } : {}),
        ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
      });
    }
    const parsed = MessageResponseSchema.safeParse(raw);
    if (!parsed.success) {
      throw new LMError(
        `anthropic: malformed Messages response: ${z.prettifyError(parsed.error).slice(0, 300)}`,
        { kind: 'malformed_response', provider: this.provider },
      );
    }
    const msg = parsed.data;
    // Asked for JSON: the forced tool's input is the answer (the adapter parses it as JSON).
    const tool = options.responseFormat ? msg.content.find((b) => b.type === 'tool_use' && b.name === JSON_TOOL_NAME) : undefined;
    const text =
      tool !== undefined && tool.input !== null && typeof tool.input === 'object'
        ? // Streamed: the JSON exactly as its chunks spelled it.
          typeof tool.json === 'string'
          ? tool.json
          : JSON.stringify(tool.input)
        : msg.content
            .filter((b) => b.type === 'text' && typeof b.text === 'string')
            .map((b) => b.text as string)
            .join('');
    return {
      text,
      usage: { inputTokens: msg.usage.input_tokens, outputTokens: msg.usage.output_tokens },
      model: msg.model,
      cached: false,
      costUsd: 0,
    };
  }

  /**
   * One streamed Messages call (`stream: true`): text deltas (or, for a JSON answer, the forced
   * tool's input JSON) go to `onChunk` as they arrive; the events are assembled into the
   * Message the non-streaming call would have returned. The SDK's timeout ends at the response
   * headers, so the whole stream gets its own deadline here.
   */
  private async streamMessage(
    client: Anthropic,
    params: Anthropic.MessageCreateParamsNonStreaming,
    options: GenerateOptions,
    onChunk: (text: string) => void,
  ): Promise<unknown> {
    const timeoutMs = Math.max(1, Math.round(options.timeoutMs ?? this.opts.timeoutMs ?? 120_000));
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    const emit = (t: string) => {
      if (!t) return;
      try {
        onChunk(t);
      } catch {
        // A listener bug must not fail the call.
      }
    };
    const jsonTool = params.tool_choice?.type === 'tool' ? params.tool_choice.name : undefined;
    try {
      const stream = await client.messages.create({ ...params, stream: true }, { timeout: timeoutMs, signal });
      const message = {
        id: '',
        type: 'message',
        role: 'assistant',
        model: this.model,
        content: [] as Array<{ type: string; text?: string; name?: string; input?: unknown; json?: string }>,
        stop_reason: null as string | null,
        usage: { input_tokens: 0, output_tokens: 0 },
      };
      for await (const raw of stream) {
        const parsed = StreamEventSchema.safeParse(raw);
        if (!parsed.success) {
          throw new LMError(`anthropic: malformed stream event: ${z.prettifyError(parsed.error).slice(0, 300)}`, {
            kind: 'malformed_response',
            provider: this.provider,
          });
        }
        const ev = parsed.data;
        if (ev.type === 'message_start') {
          message.id = ev.message.id;
          message.model = ev.message.model;
          message.usage.input_tokens = ev.message.usage.input_tokens;
          message.usage.output_tokens = ev.message.usage.output_tokens ?? 0;
        } else if (ev.type === 'content_block_start') {
          const b = ev.content_block;
          message.content[ev.index] = { type: b.type, ...(b.type === 'text' ? { text: b.text ?? '' } : {}), ...(b.name !== undefined ? { name: b.name, json: '' } : {}) };
          if (b.type === 'text' && !jsonTool) emit(b.text ?? '');
        } else if (ev.type === 'content_block_delta') {
          const block = message.content[ev.index];
          if (!block) continue;
          if (ev.delta.type === 'text_delta' && typeof ev.delta.text === 'string') {
            block.text = (block.text ?? '') + ev.delta.text;
            if (!jsonTool) emit(ev.delta.text);
          } else if (ev.delta.type === 'input_json_delta' && typeof ev.delta.partial_json === 'string') {
            block.json = (block.json ?? '') + ev.delta.partial_json;
            if (jsonTool !== undefined && block.name === jsonTool) emit(ev.delta.partial_json);
          }
        } else if (ev.type === 'message_delta') {
          if (ev.delta.stop_reason !== undefined) message.stop_reason = ev.delta.stop_reason;
          // Cumulative counts.
          if (ev.usage.output_tokens !== undefined) message.usage.output_tokens = ev.usage.output_tokens;
          if (ev.usage.input_tokens != null) message.usage.input_tokens = ev.usage.input_tokens;
        }
      }
      // The SDK ends the iteration quietly when the request is aborted.
      if (signal.aborted) throw signal.reason ?? new (await loadSdk()).APIUserAbortError();
      for (const b of message.content) {
        if (b?.type !== 'tool_use') continue;
        try {
          b.input = JSON.parse(b.json || '{}');
        } catch (e) {
          throw new LMError(`anthropic: streamed tool input is not JSON: ${String(b.json).slice(0, 200)}`, {
            kind: 'malformed_response',
            provider: this.provider,
            cause: e,
          });
        }
      }
      message.content = message.content.filter((b) => b !== undefined);
      return message;
    } catch (e) {
      if (deadline.signal.aborted && !options.signal?.aborted) {
        throw new LMError(`anthropic: stream not finished within ${timeoutMs} ms`, { kind: 'timeout', provider: this.provider, cause: e });
      }
      const { APIError, APIUserAbortError, APIConnectionError } = await loadSdk();
      if (e instanceof APIError && e.status === undefined && !(e instanceof APIUserAbortError) && !(e instanceof APIConnectionError)) {
        // An `error` event in the middle of a stream (the API sends e.g. overloaded_error).
        const kind = e.type === 'overloaded_error' ? 'overloaded' : e.type === 'rate_limit_error' ? 'rate_limited' : 'server';
        throw new LMError(`anthropic: stream error: ${[e.type, e.apiMessage].filter(Boolean).join(': ') || e.message}`.slice(0, 500), {
          kind,
          provider: this.provider,
          cause: e,
        });
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private async mapError(e: unknown, signal: AbortSignal | undefined): Promise<LMError> {
    const provider = this.provider;
    if (e instanceof LMError) return e;
    // Called once a client exists, so the SDK is loaded and this does not wait.
    const { AnthropicError, APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } = await loadSdk();
    if (e instanceof APIUserAbortError || signal?.aborted) {
      return new LMError('anthropic: request aborted', { kind: 'aborted', provider, cause: e });
    }
    if (e instanceof APIConnectionTimeoutError) {
      return new LMError('anthropic: request timed out', { kind: 'timeout', provider, cause: e });
    }
    if (e instanceof APIConnectionError) {
      return new LMError(`anthropic: connection failed: ${e.message}`, { kind: 'network', provider, cause: e });
    }
    if (e instanceof APIError && typeof e.status === 'number') {
      const status = e.status;
      const kind = kindForStatus(status);
      const detail = [e.type, e.apiMessage].filter(Boolean).join(': ') || e.message;
      const retryAfterMs = parseRetryAfterMs(e.headers ?? undefined);
      return new LMError(`anthropic: HTTP ${status} ${detail}`.slice(0, 500), {
        kind,
        provider,
        status,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        cause: e,
      });
    }
    if (e instanceof SyntaxError) {
      return new LMError(`anthropic: response body is not valid JSON: ${e.message}`.slice(0, 300), {
        kind: 'malformed_response',
        provider,
        cause: e,
      });
    }
    if (e instanceof AnthropicError) {
      // Raised by the SDK before any request (invalid options and the like): the caller's to fix.
      return new LMError(`anthropic: ${e.message}`.slice(0, 500), { kind: 'config', provider, cause: e });
    }
    return new LMError(`anthropic: ${e instanceof Error ? e.message : String(e)}`.slice(0, 500), {
      kind: 'network',
      provider,
      retryable: false,
      cause: e,
    });
  }
}

/** The one tool a JSON answer is asked through (the name LiteLLM gives it, so DSPy's requests look the same). */
export const JSON_TOOL_NAME = 'json_tool_call';

/**
 * A response format as Anthropic tool use: one tool whose `input_schema` is the wanted schema
 * (any object for `json_object`), and `tool_choice` forcing it, so the answer is the tool's input.
 */
function toolFor(format: ResponseFormat): Pick<Anthropic.MessageCreateParamsNonStreaming, 'tools' | 'tool_choice'> {
  const schema =
    format.type === 'json_schema' ? (format.schema as Anthropic.Tool.InputSchema) : { type: 'object' as const, properties: {}, additionalProperties: true };
  return {
    tools: [{ name: JSON_TOOL_NAME, input_schema: schema }],
    tool_choice: { type: 'tool', name: JSON_TOOL_NAME },
  };
}

/** The RequestObserver of the call whose SDK request is running (the SDK's fetch is per client). */
const callRequests = new AsyncLocalStorage<RequestObserver | undefined>();

/** Reports each request the SDK sends to the current call's RequestObserver. */
function countingFetch(base: typeof fetch): typeof fetch {
  return (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const requests = callRequests.getStore();
    requests?.onStart();
    let res: Response;
    try {
      res = await base(input, init);
    } catch (e) {
      requests?.onEnd(init?.signal?.aborted === true);
      throw e;
    }
    if (!requests || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      requests?.onEnd(false);
      return res;
    }
    // A stream is a request until its last byte: cut off before that, it is an aborted one.
    return endsWithBody(res, requests);
  }) as typeof fetch;
}

/** `res` with a body that reports the request's end when it is read to the end (or cut off). */
function endsWithBody(res: Response, requests: RequestObserver): Response {
  const reader = res.body!.getReader();
  let ended = false;
  const end = (aborted: boolean) => {
    if (ended) return;
    ended = true;
    requests.onEnd(aborted);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end(false);
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        end(true);
        controller.error(e);
      }
    },
    cancel(reason) {
      end(true);
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}
