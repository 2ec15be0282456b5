/**
 * Record/replay of LM calls in a JSONL file, one call per line:
 * `{"v":1,"hash":..., "request":{messages, options}, "response":{text, usage, model}, "recordedAt":...}`.
 *
 * - record: every call goes to the wrapped LM and is appended (append + fsync, one line per
 *   write, serialized), then returned. A request recorded twice: the last line wins on replay.
 * - replay: served by request hash; a miss throws `LMError{kind:'cassette_miss'}` naming the
 *   hash and the cassette, and how to record it.
 *
 * The hash covers the messages and the sampling options (temperature, maxTokens, stop,
 * rolloutId, responseFormat), not the model: a cassette is the recording of one model's answers. A last line
 * torn by a crash mid-append is ignored on load (and cut off before recording resumes); any
 * other invalid line is an error naming its line number.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import * as z from 'zod';
import { CachedResponseSchema, type CachedResponse } from './cache.js';
import { LMError } from './errors.js';
import { lmLogger } from './log.js';
import type { ProviderLM } from './provider.js';
import { samplingOptions } from './request_key.js';
import { canonicalJson, sha256Hex } from '../util/canonical_json.js';
import type { ChatMessage, GenerateOptions, LM, LMCapabilities, LMResponse } from './types.js';

export const CassetteLineSchema = z.object({
  v: z.literal(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  request: z.object({
    messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })),
    options: z.record(z.string(), z.unknown()),
  }),
  response: CachedResponseSchema,
  recordedAt: z.string(),
});
export type CassetteLine = z.infer<typeof CassetteLineSchema>;

export function cassetteHash(messages: ChatMessage[], options?: GenerateOptions): string {
  return sha256Hex(
    canonicalJson({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      options: samplingOptions(options),
    }),
  );
}

export interface CassetteLoadResult {
  entries: Map<string, CachedResponse>;
  /** Byte length of the valid prefix (everything before a torn last line). */
  validBytes: number;
  tornLastLine: boolean;
}

/** Reads a cassette; a missing file is an empty cassette. */
export async function loadCassette(file: string): Promise<CassetteLoadResult> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: new Map(), validBytes: 0, tornLastLine: false };
    throw e;
  }
  const entries = new Map<string, CachedResponse>();
  let offset = 0;
  let lineNo = 0;
  while (offset < buf.length) {
    const nl = buf.indexOf(0x0a, offset);
    const end = nl === -1 ? buf.length : nl;
    const line = buf.subarray(offset, end).toString('utf8');
    lineNo += 1;
    const isLast = nl === -1 || nl === buf.length - 1;
    if (line.trim() !== '') {
      let parsed: CassetteLine;
      try {
        parsed = CassetteLineSchema.parse(JSON.parse(line));
      } catch (e) {
        // Only an unterminated final line can be the result of a crash mid-append.
        if (nl === -1) return { entries, validBytes: offset, tornLastLine: true };
        const why = e instanceof Error ? e.message.slice(0, 200) : String(e);
        throw new LMError(`cassette ${file}: line ${lineNo} is invalid${isLast ? ' (last line)' : ''}: ${why}`, {
          kind: 'config',
          provider: 'cassette',
        });
      }
      entries.set(parsed.hash, parsed.response);
    }
    offset = nl === -1 ? buf.length : nl + 1;
  }
  return { entries, validBytes: buf.length, tornLastLine: false };
}

export interface CassetteLMOptions {
  path: string;
  mode: 'record' | 'replay';
  /** The LM to record (required in record mode). */
  inner?: LM;
  /** Model name reported in replay mode before any entry is read. */
  model?: string;
  /**
   * What the replayed LM supported when it was recorded (replay mode; record mode reports the
   * recorded LM's). A JSONAdapter asks for a response format only from an LM that declares
   * it, so replaying structured-output calls needs `{ jsonSchema: true, jsonObject: true }`.
   */
  capabilities?: LMCapabilities;
  logger?: Logger;
}

export class CassetteLM implements ProviderLM {
  readonly provider = 'cassette';
  readonly path: string;
  readonly mode: 'record' | 'replay';
  private readonly inner: LM | undefined;
  private readonly replayCapabilities: LMCapabilities | undefined;
  private readonly logger: Logger;
  private loaded: Promise<Map<string, CachedResponse>> | undefined;
  private writeChain: Promise<void> = Promise.resolve();

  constructor(opts: CassetteLMOptions) {
    this.path = path.resolve(opts.path);
    this.mode = opts.mode;
    this.inner = opts.inner;
    this.replayCapabilities = opts.capabilities;
    this.logger = (opts.logger ?? lmLogger()).child({ provider: 'cassette' });
    if (opts.mode === 'record' && !opts.inner) {
      throw new LMError('cassette: record mode needs an LM to record', { kind: 'config', provider: 'cassette' });
    }
    this._model = opts.model ?? opts.inner?.model ?? 'cassette';
  }

  private _model: string;
  get model(): string {
    return this._model;
  }

  /** Recording: the recorded LM's capabilities; replay: the ones given in the options. */
  get capabilities(): LMCapabilities | undefined {
    return this.mode === 'record' ? this.inner?.capabilities : this.replayCapabilities;
  }

  /** Recording costs what the wrapped LM costs; replay is free. */
  get billable(): boolean {
    return this.mode === 'record';
  }

  get endpoint(): string | undefined {
    return this.mode === 'record' ? (this.inner as ProviderLM | undefined)?.endpoint : undefined;
  }

  private load(): Promise<Map<string, CachedResponse>> {
    this.loaded ??= (async () => {
      const r = await loadCassette(this.path);
      if (r.tornLastLine) {
        this.logger.warn({ path: this.path }, 'cassette: ignoring a torn last line (interrupted write)');
        if (this.mode === 'record') {
          // Cut the torn tail so the next appended line starts on a line of its own.
          await fsp.truncate(this.path, r.validBytes);
        }
      }
      return r.entries;
    })();
    return this.loaded;
  }

  async generate(messages: ChatMessage[], options: GenerateOptions = {}): Promise<LMResponse> {
    const entries = await this.load();
    const hash = cassetteHash(messages, options);
    if (this.mode === 'replay') {
      const hit = entries.get(hash);
      if (!hit) {
        throw new LMError(
          `cassette miss: no recording for request ${hash} in ${this.path}. ` +
            `Record it with the LM spec "cassette:${this.path}?record=<spec>" (e.g. ?record=anthropic:claude-sonnet-4-5).`,
          { kind: 'cassette_miss', provider: this.provider, retryable: false },
        );
      }
      return { ...hit, usage: { ...hit.usage }, cached: false, costUsd: 0 };
    }
    const res = await this.inner!.generate(messages, options);
    const response: CachedResponse = { text: res.text, usage: { ...res.usage }, model: res.model };
    const line: CassetteLine = {
      v: 1,
      hash,
      request: { messages: messages.map((m) => ({ role: m.role, content: m.content })), options: samplingOptions(options) },
      response,
      recordedAt: new Date().toISOString(),
    };
    await this.append(JSON.stringify(line) + '\n');
    entries.set(hash, response);
    return res;
  }

  private append(text: string): Promise<void> {
    const run = this.writeChain.then(async () => {
      await fsp.mkdir(path.dirname(this.path), { recursive: true });
      const fh = await fsp.open(this.path, 'a');
      try {
        await fh.write(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
    this.writeChain = run.catch(() => undefined);
    return run;
  }
}
