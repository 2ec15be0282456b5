/**
 * Streaming end to end: the providers' streamed requests against loopback fakes (the real
 * Anthropic SDK; our OpenAI-compatible client reading SSE), and `streamify` turning a program's
 * call into pieces of the listened fields followed by the Prediction. Cancelling stops the
 * provider request, which is still counted and charged; a cache hit replays whole fields.
 */
import { describe, expect, it } from 'vitest';
import { AnthropicLM } from '../../src/lm/anthropic.js';
import { MemoryCache } from '../../src/lm/cache.js';
import { OpenAICompatibleLM } from '../../src/lm/openai.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { LMError } from '../../src/lm/errors.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { PriceTable } from '../../src/lm/prices.js';
import { ChainOfThought } from '../../src/dspy/chain_of_thought.js';
import { JSONAdapter } from '../../src/dspy/json_adapter.js';
import { Module } from '../../src/dspy/module.js';
import { XMLAdapter } from '../../src/dspy/xml_adapter.js';
import type { LM } from '../../src/lm/types.js';
import { Predict } from '../../src/dspy/predict.js';
import { Prediction } from '../../src/dspy/prediction.js';
import { Signature } from '../../src/dspy/signature.js';
import { StreamListener, type StreamResponse } from '../../src/dspy/stream_listener.js';
import { streamify, type StreamItem } from '../../src/dspy/streamify.js';
import { reply } from '../support/fake_anthropic.js';
import { useFakeServers } from './fake_servers.js';
import { captureLogger, msgs, waitFor } from './helpers.js';

const fakes = useFakeServers();
const { claude, local } = fakes;

const quiet = () => captureLogger().logger;

/** Two predictors with the same output field; `again`: the first one is called twice. */
class Twice extends Module {
  first: Predict;
  second: Predict;
  constructor(lm?: LM, private readonly again = false) {
    super();
    this.first = new Predict('question -> answer', lm ? { lm } : {});
    this.second = new Predict('question -> answer', lm ? { lm } : {});
  }
  override async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const a = await this.first.call(inputs);
    return this.again ? this.first.call({ question: `${String(inputs['question'])} ${String(a.get('answer'))}` }) : this.second.call(inputs);
  }
}
const priced = new PriceTable({ llama3: { inputPerMTok: 1, outputPerMTok: 2 } });

async function collect(it: AsyncIterable<StreamItem>): Promise<{ pieces: StreamResponse[]; predictions: Prediction[]; order: string[] }> {
  const pieces: StreamResponse[] = [];
  const predictions: Prediction[] = [];
  const order: string[] = [];
  for await (const item of it) {
    if (item instanceof Prediction) {
      predictions.push(item);
      order.push('prediction');
    } else {
      pieces.push(item);
      order.push(item.signatureFieldName);
    }
  }
  return { pieces, predictions, order };
}

const CHAT_ANSWER = '[[ ## reasoning ## ]]\nThe capital of France is Paris.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]\n';
/** The answer cut as a tokenizer might cut it (markers split across pieces). */
const CHAT_PIECES = ['[[ ##', ' reasoning ## ]]\nThe', ' capital of', ' France is Paris', '.\n\n[[', ' ## answer ## ]]\nPar', 'is\n\n[[ ## completed', ' ## ]]\n'];

describe('providers stream', () => {
  it('OpenAI-compatible: stream: true with usage asked for; pieces in order; the text, usage and model as a plain call', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: ['Hel', 'lo', ' world'], usage: { prompt: 11, completion: 3 }, model: 'llama3-8b' });
    const seen: string[] = [];
    const res = await local().generate(msgs('hi'), { onChunk: (t) => seen.push(t), temperature: 0 });
    expect(seen).toEqual(['Hel', 'lo', ' world']);
    expect(res).toEqual({ text: 'Hello world', usage: { inputTokens: 11, outputTokens: 3 }, model: 'llama3-8b', cached: false, costUsd: 0 });
    const body = fakes.openai.requests[0]!.body;
    expect(body).toMatchObject({ stream: true, stream_options: { include_usage: true }, temperature: 0 });
    expect(fakes.openai.requests[0]!.headers['accept']).toBe('text/event-stream');
  });

  it('Anthropic: the SDK streams (stream: true); text deltas are the pieces; usage from message_start and message_delta', async () => {
    fakes.anthropic.enqueue(reply.stream(['Bon', 'jour'], { usage: { input: 21, output: 4 } }));
    const seen: string[] = [];
    const res = await claude().generate(msgs('hi'), { onChunk: (t) => seen.push(t) });
    expect(seen).toEqual(['Bon', 'jour']);
    expect(res).toEqual({ text: 'Bonjour', usage: { inputTokens: 21, outputTokens: 4 }, model: 'claude-haiku-4-5', cached: false, costUsd: 0 });
    expect(fakes.anthropic.messageRequests[0]!.body.stream).toBe(true);
  });

  it('Anthropic with a response format: the forced tool input JSON is streamed and is the text', async () => {
    fakes.anthropic.enqueue(reply.stream(['{"answer": "Pa', 'ris"}'], { tool: 'json_tool_call' }));
    const seen: string[] = [];
    const res = await claude().generate(msgs('hi'), { onChunk: (t) => seen.push(t), responseFormat: { type: 'json_object' } });
    expect(seen).toEqual(['{"answer": "Pa', 'ris"}']);
    expect(res.text).toBe('{"answer": "Paris"}');
    expect(fakes.anthropic.messageRequests[0]!.body).toMatchObject({ stream: true, tool_choice: { type: 'tool', name: 'json_tool_call' } });
  });

  it('a stream that stalls ends at the call timeout, and an error event mid-stream is an LM error of its kind', async () => {
    fakes.anthropic.enqueue(reply.stream(['a', 'b'], { hangAfter: 1 }));
    const slow = new AnthropicLM({ model: 'claude-haiku-4-5', apiKey: 'k', baseURL: fakes.anthropic.baseURL, timeoutMs: 200, maxRetries: 0, logger: quiet() });
    const seen: string[] = [];
    const e1 = await slow.generate(msgs('q'), { onChunk: (t) => seen.push(t) }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(LMError);
    expect((e1 as LMError).kind).toBe('timeout');
    expect(seen).toEqual(['a']);

    const overloaded = reply.stream(['a']);
    if (overloaded.kind !== 'stream') throw new Error('unexpected');
    overloaded.events.push({ event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    fakes.anthropic.enqueue(overloaded);
    const e2 = await claude().generate(msgs('q'), { onChunk: () => {} }).catch((e: unknown) => e);
    expect(e2).toMatchObject({ kind: 'overloaded' });
  });

  it('OpenAI-compatible: a failure before the first piece is retried; a stream broken after it is not (its text is out)', async () => {
    const retrying = new OpenAICompatibleLM({ baseURL: fakes.openai.baseURL, model: 'llama3', timeoutMs: 300, maxRetries: 2, retryBaseDelayMs: 1, logger: quiet() });
    fakes.openai.enqueue({ kind: 'status', status: 503 }, { kind: 'sse', pieces: ['ok'] });
    const seen: string[] = [];
    expect((await retrying.generate(msgs('q'), { onChunk: (t) => seen.push(t) })).text).toBe('ok');
    expect(fakes.openai.requests).toHaveLength(2);

    fakes.openai.reset();
    fakes.openai.enqueue({ kind: 'sse', pieces: ['par', 'tial'], hangAfter: 1 }, { kind: 'sse', pieces: ['again'] });
    const e = await retrying.generate(msgs('q'), { onChunk: (t) => seen.push(t) }).catch((x: unknown) => x);
    expect((e as LMError).kind).toBe('timeout');
    expect(fakes.openai.requests).toHaveLength(1);
    expect(seen).toEqual(['ok', 'par']);
  });

  it('OpenAI-compatible: a stream event that is not a chunk is a malformed response (comments and blank lines are skipped)', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: ['fine'], rawEvent: ': keep-alive\n\ndata: {"choices": "nope"}' });
    const seen: string[] = [];
    const e = await local().generate(msgs('q'), { onChunk: (t) => seen.push(t) }).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'malformed_response' });
    expect(seen).toEqual(['fine']);
    fakes.openai.enqueue({ kind: 'sse', pieces: ['a'], rawEvent: 'data: {not json' });
    expect(await local().generate(msgs('q'), { onChunk: () => {} }).catch((x: unknown) => x)).toMatchObject({ kind: 'malformed_response' });
  });

  it('a streamed answer is cached like any other; the hit is whole and streams nothing', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: ['a', 'b'] });
    const lm = new ManagedLM(local(), { cache: new MemoryCache(), logger: quiet() });
    const seen: string[] = [];
    expect((await lm.generate(msgs('q'), { onChunk: (t) => seen.push(t) })).text).toBe('ab');
    const hit = await lm.generate(msgs('q'), { onChunk: (t) => seen.push(t) });
    expect(hit).toMatchObject({ text: 'ab', cached: true });
    expect(seen).toEqual(['a', 'b']);
    expect(fakes.openai.requests).toHaveLength(1);
    // The same key as the plain call: streaming does not change the answer.
    expect(await lm.generate(msgs('q'))).toMatchObject({ text: 'ab', cached: true });
  });
});

describe('streamify', () => {
  const sig = Signature.parse('question -> reasoning, answer');

  it('yields the listened fields piece by piece, then the Prediction; the pieces joined are the parsed values', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: CHAT_PIECES });
    const program = new Predict(sig, { lm: new ManagedLM(local(), { logger: quiet() }) });
    const stream = streamify(program, { streamListeners: [new StreamListener('answer'), new StreamListener('reasoning')] });
    const { pieces, predictions, order } = await collect(stream({ question: 'Capital of France?' }));
    expect(predictions).toHaveLength(1);
    expect(order.at(-1)).toBe('prediction');
    const pred = predictions[0]!;
    expect(pred.toDict()).toEqual({ reasoning: 'The capital of France is Paris.', answer: 'Paris' });
    const of = (f: string) => pieces.filter((p) => p.signatureFieldName === f);
    expect(of('reasoning').map((p) => p.chunk).join('')).toBe(pred.get('reasoning'));
    expect(of('answer').map((p) => p.chunk).join('')).toBe('Paris');
    // Reasoning arrived in several pieces before the answer started.
    expect(of('reasoning').length).toBeGreaterThan(1);
    expect(order.indexOf('answer')).toBeGreaterThan(order.lastIndexOf('reasoning'));
    for (const f of ['reasoning', 'answer']) {
      expect(of(f).map((p) => p.isLastChunk)).toEqual([...Array(of(f).length - 1).fill(false), true]);
    }
    expect(pieces.every((p) => p.predictName === 'self')).toBe(true);
    expect(pieces.some((p) => p.chunk.includes('[['))).toBe(false);
  });

  it('finds the predictor of a field inside a module, named by its path', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: [CHAT_ANSWER] });
    const program = new ChainOfThought('question -> answer', { lm: new ManagedLM(local(), { logger: quiet() }) });
    const { pieces } = await collect(streamify(program, { streamListeners: [new StreamListener('answer')] })({ question: 'q' }));
    expect(pieces).toEqual([{ predictName: 'predict', signatureFieldName: 'answer', chunk: 'Paris', isLastChunk: true }]);
  });

  it('a field no predictor has, or several have, is an error when streamify is called', () => {
    expect(() => streamify(new Predict(sig), { streamListeners: [new StreamListener('nope')] })).toThrow(/`nope` is not a field of any predictor/);
    const both = new Twice();
    expect(() => streamify(both, { streamListeners: [new StreamListener('answer')] })).toThrow(/`answer` is not unique in the program \(first, second\)/);
    // Naming the predictor settles it; its name is its path.
    expect(() => streamify(both, { streamListeners: [new StreamListener('answer', { predict: both.second })] })).not.toThrow();
  });

  it('only the listened predictor\'s call streams; the other calls of the program do not', async () => {
    const lm = new ManagedLM(local(), { logger: quiet() });
    const program = new Twice(lm);
    // The first predictor's call is not listened to, so it does not stream (a plain answer).
    fakes.openai.enqueue({ kind: 'ok', text: '[[ ## answer ## ]]\nfirst\n[[ ## completed ## ]]' }, { kind: 'sse', pieces: ['[[ ## answer ## ]]\nsec', 'ond\n[[ ## completed ## ]]'] });
    const { pieces, predictions } = await collect(streamify(program, { streamListeners: [new StreamListener('answer', { predict: program.second })] })({ question: 'q' }));
    expect(pieces.map((p) => [p.predictName, p.chunk])).toEqual([
      ['second', 'sec'],
      ['second', 'ond'],
    ]);
    expect(predictions[0]!.get('answer')).toBe('second');
  });

  it('allowReuse: a predictor called again streams again', async () => {
    const lm = new ManagedLM(local(), { logger: quiet() });
    const program = new Twice(lm, true);
    fakes.openai.enqueue({ kind: 'sse', pieces: ['[[ ## answer ## ]]\none\n[[ ## completed ## ]]'] }, { kind: 'sse', pieces: ['[[ ## answer ## ]]\ntwo\n[[ ## completed ## ]]'] });
    const reuse = await collect(streamify(program, { streamListeners: [new StreamListener('answer', { predict: program.first, allowReuse: true })] })({ question: 'q' }));
    expect(reuse.pieces.map((p) => p.chunk)).toEqual(['one', 'two']);
    // Without allowReuse the listener is done after the first call: the second does not stream.
    fakes.openai.enqueue({ kind: 'sse', pieces: ['[[ ## answer ## ]]\none\n[[ ## completed ## ]]'] }, { kind: 'ok', text: '[[ ## answer ## ]]\ntwo\n[[ ## completed ## ]]' });
    const once = await collect(streamify(program, { streamListeners: [new StreamListener('answer', { predict: program.first })] })({ question: 'q' }));
    expect(once.pieces.map((p) => p.chunk)).toEqual(['one']);
  });

  it('XMLAdapter fields stream; a last field the LM does not close ends with the call, not repeated', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: ['<reasoning>\nbecause', '</reasoning>\n<answer>\nPar', 'is\n</answer>'] });
    const program = new Predict(sig, { lm: local(), adapter: new XMLAdapter() });
    const xml = await collect(streamify(program, { streamListeners: [new StreamListener('reasoning'), new StreamListener('answer')] })({ question: 'q' }));
    expect(xml.pieces.map((p) => [p.signatureFieldName, p.chunk, p.isLastChunk])).toEqual([
      ['reasoning', 'because', false],
      ['reasoning', '', true],
      ['answer', 'Par', false],
      ['answer', 'is', true],
    ]);
    expect(xml.predictions[0]!.toDict()).toEqual({ reasoning: 'because', answer: 'Paris' });
    fakes.openai.reset();
    fakes.openai.enqueue({ kind: 'sse', pieces: ['[[ ## reasoning ## ]]\nbecause\n[[ ## answer ## ]]\nPar', 'is'] });
    const chat = await collect(streamify(new Predict(sig, { lm: local() }), { streamListeners: [new StreamListener('answer')] })({ question: 'q' }));
    // The end is known only when the call ends: an empty last piece then.
    expect(chat.pieces.map((p) => [p.chunk, p.isLastChunk])).toEqual([
      ['Par', false],
      ['is', false],
      ['', true],
    ]);
    expect(chat.predictions[0]!.get('answer')).toBe('Paris');
  });

  it('JSONAdapter with native structured output streams the JSON fields (Anthropic tool input)', async () => {
    fakes.anthropic.enqueue(reply.stream(['{"reasoning": "Because', ' \\"Paris\\"", "ans', 'wer": "Paris"}'], { tool: 'json_tool_call' }));
    const program = new Predict(sig, { lm: claude(), adapter: new JSONAdapter() });
    const { pieces, predictions } = await collect(streamify(program, { streamListeners: [new StreamListener('reasoning')] })({ question: 'q' }));
    expect(pieces.map((p) => p.chunk).join('')).toBe('Because "Paris"');
    expect(predictions[0]!.get('reasoning')).toBe('Because "Paris"');
    expect(fakes.anthropic.messageRequests[0]!.body.tools[0].name).toBe('json_tool_call');
  });

  it('a cache hit (and an LM that does not stream) gives one piece per listened field', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: CHAT_PIECES });
    const lm = new ManagedLM(local(), { cache: new MemoryCache(), logger: quiet() });
    const stream = streamify(new Predict(sig, { lm }), { streamListeners: [new StreamListener('reasoning'), new StreamListener('answer')] });
    await collect(stream({ question: 'q' }));
    const again = await collect(stream({ question: 'q' }));
    expect(again.pieces).toEqual([
      { predictName: 'self', signatureFieldName: 'reasoning', chunk: 'The capital of France is Paris.', isLastChunk: true },
      { predictName: 'self', signatureFieldName: 'answer', chunk: 'Paris', isLastChunk: true },
    ]);
    expect(again.predictions).toHaveLength(1);
    expect(fakes.openai.requests).toHaveLength(1);

    const offline = streamify(new Predict('question -> answer', { lm: new DummyLM([{ answer: 'offline' }]) }), { streamListeners: [new StreamListener('answer')] });
    expect((await collect(offline({ question: 'q' }))).pieces).toEqual([{ predictName: 'self', signatureFieldName: 'answer', chunk: 'offline', isLastChunk: true }]);
  });

  it('includeFinalPrediction: false leaves the Prediction out once pieces came, as DSPy', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: CHAT_PIECES });
    const stream = streamify(new Predict(sig, { lm: local() }), { streamListeners: [new StreamListener('answer')], includeFinalPrediction: false });
    const { pieces, predictions } = await collect(stream({ question: 'q' }));
    expect(pieces.map((p) => p.chunk).join('')).toBe('Paris');
    expect(predictions).toEqual([]);
    // Without listeners the Prediction is all there is, so it always comes (the call does not stream).
    fakes.openai.enqueue({ kind: 'ok', text: CHAT_ANSWER });
    expect((await collect(streamify(new Predict(sig, { lm: local() }), { includeFinalPrediction: false })({ question: 'q' }))).predictions).toHaveLength(1);
  });
});

describe('cancelling a stream', () => {
  const sig = Signature.parse('question -> answer');

  it('an aborted signal stops the provider request; the iteration throws; the request is counted and charged', async () => {
    fakes.openai.enqueue({ kind: 'sse', pieces: ['[[ ## answer ## ]]\n', 'Once upon a time ', 'there was', ' more'], hangAfter: 2 });
    const lm = new ManagedLM(local(), { prices: priced, logger: quiet() });
    const ac = new AbortController();
    const seen: StreamResponse[] = [];
    const err = await (async () => {
      for await (const item of streamify(new Predict(sig, { lm }), { streamListeners: [new StreamListener('answer')] })({ question: 'q' }, { signal: ac.signal })) {
        if (!(item instanceof Prediction)) {
          seen.push(item);
          ac.abort();
        }
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LMError);
    expect((err as LMError).kind).toBe('aborted');
    expect(seen.map((p) => p.chunk)).toEqual(['Once upon a time']);
    await waitFor(() => fakes.openai.closedByClient === 1);
    const u = lm.usage.snapshot();
    expect(u).toMatchObject({ sent: 1, aborted: 1 });
    // Input estimated from the prompt, output from the text streamed before the cut.
    expect(u.inputTokens).toBeGreaterThan(0);
    expect(u.outputTokens).toBe(Math.ceil('[[ ## answer ## ]]\nOnce upon a time '.length / 4));
    expect(u.costUsd).toBeGreaterThan(0);
  });

  it('leaving the loop early cancels the request (Anthropic through the SDK), which is counted as aborted', async () => {
    fakes.anthropic.enqueue(reply.stream(['[[ ## answer ## ]]\n', 'Once upon', ' a time'], { hangAfter: 2 }));
    const lm = new ManagedLM(claude(), { logger: quiet() });
    const stream = streamify(new Predict(sig, { lm }), { streamListeners: [new StreamListener('answer')] })({ question: 'q' });
    const first = await stream.next();
    expect(first.value).toMatchObject({ signatureFieldName: 'answer', chunk: 'Once upon', isLastChunk: false });
    await stream.return(undefined);
    expect(lm.usage.snapshot()).toMatchObject({ calls: 1, sent: 1, aborted: 1 });
    expect(lm.usage.snapshot().outputTokens).toBeGreaterThan(0);
  });
});
