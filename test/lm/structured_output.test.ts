/**
 * Native structured output end to end: a JSONAdapter asks a provider that declares it for the
 * signature's output schema; the real SDK (Anthropic) or our client (OpenAI-compatible) sends
 * it to a loopback fake; the JSON answer becomes a typed Prediction. A refusal falls back to
 * the plain prompt once; the response format is part of the cache key and the cassette hash.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { MemoryCache } from '../../src/lm/cache.js';
import { CassetteLM, cassetteHash } from '../../src/lm/cassette.js';
import { LMError } from '../../src/lm/errors.js';
import { ManagedLM } from '../../src/lm/managed.js';
import type { LM, LMCapabilities, ResponseFormat } from '../../src/lm/types.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { ChatAdapter } from '../../src/dspy/chat_adapter.js';
import { EnumType } from '../../src/dspy/field_types.js';
import { JSONAdapter } from '../../src/dspy/json_adapter.js';
import { Predict } from '../../src/dspy/predict.js';
import { Signature } from '../../src/dspy/signature.js';
import { outputJsonSchema, structuredResponseFormat } from '../../src/dspy/structured_output.js';
import { reply, type FakeBehaviour } from '../support/fake_anthropic.js';
import { useFakeServers } from './fake_servers.js';
import { captureLogger, msgs } from './helpers.js';

const fakes = useFakeServers();
const { claude, local } = fakes;


/** An Anthropic Message answering with a call of the JSON tool. */
function toolUse(input: unknown, name = 'json_tool_call'): FakeBehaviour {
  return {
    kind: 'raw',
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({
      id: 'msg_tool',
      type: 'message',
      role: 'assistant',
      model: 'claude-haiku-4-5',
      content: [{ type: 'tool_use', id: 'toolu_1', name, input }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 40, output_tokens: 12 },
    }),
  };
}

const qa = Signature.parse('question -> answer, confidence: float');
const QA_SCHEMA = {
  type: 'object',
  title: 'DSPyProgramOutputs',
  properties: { answer: { type: 'string', title: 'Answer' }, confidence: { type: 'number', title: 'Confidence' } },
  required: ['answer', 'confidence'],
  additionalProperties: false,
};

describe('the output schema of a signature', () => {
  it('declares every output field with its type, all required, nothing else allowed (OpenAI strict mode)', () => {
    const Color = new EnumType('Color', { RED: 'red', GREEN: 'green' });
    const Person = z.object({ name: z.string(), age: z.number().int().optional() });
    const sig = Signature.parse(
      'text -> n_items: int, ok: bool, tags: list[str], label: Literal["pos", "neg"], maybe: Optional[int], color: Color, person: Person',
      undefined,
      { types: { Color, Person } },
    );
    expect(outputJsonSchema(sig)).toEqual({
      type: 'object',
      title: 'DSPyProgramOutputs',
      additionalProperties: false,
      required: ['n_items', 'ok', 'tags', 'label', 'maybe', 'color', 'person'],
      properties: {
        n_items: { type: 'integer', title: 'N Items' },
        ok: { type: 'boolean', title: 'Ok' },
        tags: { type: 'array', items: { type: 'string' }, title: 'Tags' },
        label: { enum: ['pos', 'neg'], type: 'string', title: 'Label' },
        maybe: { anyOf: [{ type: 'integer' }, { type: 'null' }], title: 'Maybe' },
        color: { enum: ['red', 'green'], type: 'string', title: 'Color' },
        person: {
          type: 'object',
          title: 'Person',
          properties: { name: { type: 'string' }, age: expect.objectContaining({ type: 'integer' }) },
          // zod leaves `age` out of required; strict mode needs it listed.
          required: ['name', 'age'],
          additionalProperties: false,
        },
      },
    });
  });

  it('objects inside lists are closed too; an object with no declared properties allows none (DSPy\'s rule)', () => {
    const Item = z.object({ id: z.number().int(), note: z.string().optional() });
    const Meta = z.object({ extra: z.record(z.string(), z.string()) });
    const schema = outputJsonSchema(Signature.parse('q -> items: list[Item], meta: Meta', undefined, { types: { Item, Meta } }));
    const props = schema['properties'] as Record<string, any>;
    expect(props['items'].items).toMatchObject({ type: 'object', required: ['id', 'note'], additionalProperties: false });
    expect(props['meta'].properties.extra).toMatchObject({ type: 'object', properties: {}, required: [], additionalProperties: false });
  });

  it('a recursive zod type: its definitions move to the root and every reference resolves there', () => {
    type TreeNode = { name: string; note?: string; children: TreeNode[] };
    const Node: z.ZodType<TreeNode> = z.object({
      name: z.string(),
      // Optional: zod leaves it out of `required`, and strict mode needs it listed in the
      // definitions too, not only in the properties.
      note: z.string().optional(),
      get children() {
        return z.array(Node);
      },
    });
    const Tree = z.object({ root: Node });
    // A reference inside a list (`anyOf`): followed like any other.
    type Link = { value: number; next: Link | null };
    const Chain: z.ZodType<Link> = z.object({
      value: z.number(),
      get next() {
        return Chain.nullable();
      },
    });
    const schema = outputJsonSchema(Signature.parse('q -> tree: Tree, node: Node, chain: Chain', undefined, { types: { Tree, Node, Chain } }));
    const props = schema['properties'] as Record<string, any>;
    const defs = schema['$defs'] as Record<string, any>;
    const resolve = (ref: string) => {
      expect(ref).toMatch(/^#\/\$defs\//);
      const def = defs[ref.slice('#/$defs/'.length)];
      expect(def).toBeDefined();
      return def;
    };
    // tree.root -> a definition whose children point back at it.
    const rootDef = resolve(props['tree'].properties.root.$ref);
    expect(resolve(rootDef.properties.children.items.$ref)).toBe(rootDef);
    expect(rootDef).toMatchObject({ type: 'object', required: ['name', 'note', 'children'], additionalProperties: false });
    // node is itself recursive: it becomes a definition referring to itself; the property is
    // the bare reference (no title beside it), and no definitions are left inside a property.
    expect(props['node']).toEqual({ $ref: expect.any(String) });
    const nodeDef = resolve(props['node'].$ref);
    expect(resolve(nodeDef.properties.children.items.$ref)).toBe(nodeDef);
    expect(nodeDef).toMatchObject({ required: ['name', 'note', 'children'], additionalProperties: false });
    const chainDef = resolve(props['chain'].$ref);
    const nextRefs = (chainDef.properties.next.anyOf as Array<{ $ref?: string }>).filter((o) => o.$ref);
    expect(nextRefs).toHaveLength(1);
    expect(resolve(nextRefs[0]!.$ref!)).toBe(chainDef);
    expect(JSON.stringify(schema)).not.toContain('"$ref":"#"');
    expect(JSON.stringify(props)).not.toContain('"$defs"');
  });

  it('an open-ended dict or Any output asks for a plain JSON object; an LM without capabilities gets no format', () => {
    const sig = Signature.parse('q -> scores: dict[str, float], a');
    expect(() => outputJsonSchema(sig)).toThrow(/scores.*open-ended/);
    expect(() => outputJsonSchema(Signature.parse('q -> anything: Any'))).toThrow(/anything.*open-ended/);
    expect(structuredResponseFormat(Signature.parse('q -> anything: Any'), claude())).toEqual({ type: 'json_object' });
    const withCapabilities = (capabilities: LMCapabilities) => Object.assign(Object.create(new DummyLM()) as LM, { capabilities });
    expect(structuredResponseFormat(qa, withCapabilities({ jsonObject: true }))).toEqual({ type: 'json_object' });
    expect(structuredResponseFormat(qa, withCapabilities({ streaming: true }))).toBeUndefined();
    expect(structuredResponseFormat(sig, claude())).toEqual({ type: 'json_object' });
    expect(structuredResponseFormat(qa, new DummyLM())).toBeUndefined();
    expect(structuredResponseFormat(qa, claude())).toEqual({ type: 'json_schema', name: 'DSPyProgramOutputs', schema: QA_SCHEMA, strict: true });
  });
});

describe('Anthropic: tool use with the output schema', () => {
  it('sends one tool whose input_schema is the schema, forces it, and answers with its input as JSON', async () => {
    fakes.anthropic.enqueue(toolUse({ answer: 'Paris', confidence: 0.9 }));
    const format: ResponseFormat = { type: 'json_schema', name: 'DSPyProgramOutputs', schema: QA_SCHEMA, strict: true };
    const res = await claude().generate(msgs('Capital of France?'), { responseFormat: format });
    expect(JSON.parse(res.text)).toEqual({ answer: 'Paris', confidence: 0.9 });
    expect(res.usage).toEqual({ inputTokens: 40, outputTokens: 12 });
    const body = fakes.anthropic.messageRequests[0]!.body;
    expect(body.tools).toEqual([{ name: 'json_tool_call', input_schema: QA_SCHEMA }]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'json_tool_call' });
    expect(body.system).toBe('You answer questions.');
  });

  it('a JSON object request is a tool taking any object; a plain call sends no tools', async () => {
    fakes.anthropic.enqueue(toolUse({ x: 1 }), reply.ok('plain'));
    const lm = claude();
    expect((await lm.generate(msgs('q'), { responseFormat: { type: 'json_object' } })).text).toBe('{"x":1}');
    expect(fakes.anthropic.messageRequests[0]!.body.tools).toEqual([{ name: 'json_tool_call', input_schema: { type: 'object', properties: {}, additionalProperties: true } }]);
    expect((await lm.generate(msgs('q'))).text).toBe('plain');
    expect(fakes.anthropic.messageRequests[1]!.body).not.toHaveProperty('tools');
    expect(fakes.anthropic.messageRequests[1]!.body).not.toHaveProperty('tool_choice');
  });

  it('Predict with a JSONAdapter returns the typed Prediction from the tool call', async () => {
    fakes.anthropic.enqueue(toolUse({ answer: 'Paris', confidence: 0.9 }));
    const lm = new ManagedLM(claude(), { logger: captureLogger().logger });
    const p = new Predict(qa, { lm, adapter: new JSONAdapter() });
    const pred = await p.call({ question: 'Capital of France?' });
    expect(pred.get('answer')).toBe('Paris');
    expect(pred.get('confidence')).toBe(0.9);
    const body = fakes.anthropic.messageRequests[0]!.body;
    expect(body.tools[0].input_schema).toEqual(QA_SCHEMA);
    // The prompt is the JSONAdapter's: the tool is added to it, not instead of it.
    expect(body.messages.at(-1).content).toContain('Respond with a JSON object in the following order of fields: `answer`, then `confidence`');
    expect(lm.usage.snapshot()).toMatchObject({ calls: 1, sent: 1, inputTokens: 40, outputTokens: 12 });
  });
});

describe('OpenAI-compatible: response_format json_schema', () => {
  it('sends response_format { type: json_schema, json_schema: { name, schema, strict } } and parses the JSON content', async () => {
    fakes.openai.enqueue({ kind: 'ok', text: '{"answer": "Paris", "confidence": 0.75}' });
    const p = new Predict(qa, { lm: new ManagedLM(local(), { logger: captureLogger().logger }), adapter: new JSONAdapter() });
    const pred = await p.call({ question: 'Capital of France?' });
    expect(pred.toDict()).toEqual({ answer: 'Paris', confidence: 0.75 });
    expect(fakes.openai.requests[0]!.body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'DSPyProgramOutputs', schema: QA_SCHEMA, strict: true },
    });
  });

  it('structuredOutput: false sends the plain prompt; so does a chat-format call', async () => {
    fakes.openai.enqueue({ kind: 'ok', text: '{"answer": "a", "confidence": 1}' }, { kind: 'ok', text: '[[ ## answer ## ]]\na\n\n[[ ## confidence ## ]]\n1\n\n[[ ## completed ## ]]' });
    await new Predict(qa, { lm: local(), adapter: new JSONAdapter({ structuredOutput: false }) }).call({ question: 'q' });
    await new Predict(qa, { lm: local(), adapter: new ChatAdapter() }).call({ question: 'q' });
    expect(fakes.openai.requests.map((r) => r.body.response_format)).toEqual([undefined, undefined]);
  });

  it('a chat answer that does not parse falls back to JSON mode with the schema, as DSPy does', async () => {
    fakes.openai.enqueue({ kind: 'ok', text: 'no headers here' }, { kind: 'ok', text: '{"answer": "b", "confidence": 0.5}' });
    const pred = await new Predict(qa, { lm: local(), adapter: new ChatAdapter() }).call({ question: 'q' });
    expect(pred.get('answer')).toBe('b');
    expect(fakes.openai.requests.map((r) => r.body.response_format?.type)).toEqual([undefined, 'json_schema']);
  });
});

describe('falling back to the plain prompt', () => {
  it('a 400 refusing response_format is followed by one plain call; both are counted', async () => {
    fakes.openai.enqueue(
      { kind: 'status', status: 400, body: JSON.stringify({ error: { message: "'response_format.type' json_schema is not supported by this model" } }) },
      { kind: 'ok', text: '{"answer": "Paris", "confidence": 0.5}', usage: { prompt: 30, completion: 9 } },
    );
    const lm = new ManagedLM(local(), { logger: captureLogger().logger });
    const pred = await new Predict(qa, { lm, adapter: new JSONAdapter() }).call({ question: 'Capital of France?' });
    expect(pred.get('answer')).toBe('Paris');
    expect(fakes.openai.requests).toHaveLength(2);
    expect(fakes.openai.requests[0]!.body.response_format.type).toBe('json_schema');
    expect(fakes.openai.requests[1]!.body).not.toHaveProperty('response_format');
    // Same prompt both times.
    expect(fakes.openai.requests[1]!.body.messages).toEqual(fakes.openai.requests[0]!.body.messages);
    expect(lm.usage.snapshot()).toMatchObject({ calls: 2, sent: 2, inputTokens: 30, outputTokens: 9 });
  });

  it('a structured answer that does not fit the signature is retried once with the plain prompt', async () => {
    fakes.anthropic.enqueue(toolUse({ answer: 'Paris' }), reply.ok('{"answer": "Paris", "confidence": 1.0}'));
    const pred = await new Predict(qa, { lm: claude(), adapter: new JSONAdapter() }).call({ question: 'q' });
    expect(pred.get('confidence')).toBe(1);
    expect(fakes.anthropic.messageRequests.map((r) => r.body.tool_choice?.type)).toEqual(['tool', undefined]);
  });

  it('a 422 refusal falls back too; a 404 (no such model) or a refusal with structured output off does not', async () => {
    fakes.openai.enqueue({ kind: 'status', status: 422 }, { kind: 'ok', text: '{"answer": "a", "confidence": 1}' });
    expect((await new Predict(qa, { lm: local(), adapter: new JSONAdapter() }).call({ question: 'q' })).get('answer')).toBe('a');
    expect(fakes.openai.requests).toHaveLength(2);
    fakes.openai.reset();
    fakes.openai.enqueue({ kind: 'status', status: 404 });
    expect(await new Predict(qa, { lm: local(), adapter: new JSONAdapter() }).call({ question: 'q' }).catch((e: unknown) => e)).toMatchObject({ status: 404 });
    fakes.openai.enqueue({ kind: 'status', status: 400 });
    expect(await new Predict(qa, { lm: local(), adapter: new JSONAdapter({ structuredOutput: false }) }).call({ question: 'q' }).catch((e: unknown) => e)).toMatchObject({ status: 400 });
    expect(fakes.openai.requests).toHaveLength(2);
  });

  it('a response format the caller configured is sent as given, not replaced by the schema', async () => {
    fakes.openai.enqueue({ kind: 'ok', text: '{"answer": "a", "confidence": 1}' });
    await new Predict(qa, { lm: local(), adapter: new JSONAdapter(), config: { responseFormat: { type: 'json_object' } } }).call({ question: 'q' });
    expect(fakes.openai.requests[0]!.body.response_format).toEqual({ type: 'json_object' });
  });

  it('only once: a plain call failing too is the error; other LM errors are not retried at all', async () => {
    fakes.openai.enqueue({ kind: 'status', status: 400 }, { kind: 'status', status: 400 });
    const e1 = await new Predict(qa, { lm: local(), adapter: new JSONAdapter() }).call({ question: 'q' }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(LMError);
    expect(fakes.openai.requests).toHaveLength(2);
    fakes.openai.reset();
    fakes.openai.enqueue({ kind: 'status', status: 401 });
    const e2 = await new Predict(qa, { lm: local(), adapter: new JSONAdapter() }).call({ question: 'q' }).catch((e: unknown) => e);
    expect((e2 as LMError).kind).toBe('auth');
    expect(fakes.openai.requests).toHaveLength(1);
  });
});

describe('the response format in cache keys and cassettes', () => {
  const schemaFormat: ResponseFormat = { type: 'json_schema', name: 'DSPyProgramOutputs', schema: QA_SCHEMA, strict: true };

  it('the same prompt with and without a response format are different cache entries; a repeat is a hit', async () => {
    const lm = new ManagedLM(local(), { cache: new MemoryCache(), logger: captureLogger().logger });
    const plainKey = lm.cacheKey(msgs('q'));
    expect(lm.cacheKey(msgs('q'), { responseFormat: schemaFormat })).not.toBe(plainKey);
    expect(lm.cacheKey(msgs('q'), { responseFormat: { type: 'json_object' } })).not.toBe(lm.cacheKey(msgs('q'), { responseFormat: schemaFormat }));
    // A plain call's key is what it was before response formats existed.
    expect(lm.cacheKey(msgs('q'), { responseFormat: undefined })).toBe(plainKey);

    fakes.openai.enqueue({ kind: 'ok', text: 'plain' }, { kind: 'ok', text: '{"a":1}' });
    expect((await lm.generate(msgs('q'))).text).toBe('plain');
    const structured = await lm.generate(msgs('q'), { responseFormat: schemaFormat });
    expect(structured).toMatchObject({ text: '{"a":1}', cached: false });
    expect(await lm.generate(msgs('q'), { responseFormat: { ...schemaFormat } })).toMatchObject({ text: '{"a":1}', cached: true });
    expect(fakes.openai.requests).toHaveLength(2);
    expect(lm.usage.snapshot()).toMatchObject({ calls: 3, cacheHits: 1, sent: 2 });
  });

  it('a cassette records the response format and replays it with the capabilities it was recorded with', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cassette-so-'));
    const file = `${dir}/so.jsonl`;
    fakes.openai.enqueue({ kind: 'ok', text: '{"answer": "Paris", "confidence": 0.5}' });
    const recorder = new CassetteLM({ path: file, mode: 'record', inner: local() });
    expect(recorder.capabilities).toEqual({ jsonSchema: true, jsonObject: true, streaming: true });
    await new Predict(qa, { lm: recorder, adapter: new JSONAdapter() }).call({ question: 'q' });
    const line = JSON.parse((await readFile(file, 'utf8')).trim());
    expect(line.request.options.responseFormat).toEqual({ type: 'json_schema', name: 'DSPyProgramOutputs', schema: QA_SCHEMA, strict: true });
    expect(cassetteHash(line.request.messages, { responseFormat: line.request.options.responseFormat })).toBe(line.hash);
    expect(cassetteHash(line.request.messages)).not.toBe(line.hash);

    const replay = new CassetteLM({ path: file, mode: 'replay', capabilities: { jsonSchema: true, jsonObject: true } });
    const pred = await new Predict(qa, { lm: replay, adapter: new JSONAdapter() }).call({ question: 'q' });
    expect(pred.get('answer')).toBe('Paris');
    expect(fakes.openai.requests).toHaveLength(1);
  });
});
