/**
 * LM specs: the strings users type to choose an LM.
 *
 *   anthropic:MODEL                     Anthropic Messages API, e.g. anthropic:claude-sonnet-4-5
 *   openai:BASEURL#MODEL                an OpenAI-compatible server, e.g. openai:http://127.0.0.1:11434/v1#llama3
 *   openai:MODEL                        api.openai.com/v1 itself
 *   offline                             the deterministic dummy LM in follow-the-demos mode
 *   dummy                               the dummy LM with its default mode
 *   cassette:PATH                       replay a recorded cassette (a miss is an error)
 *   cassette:PATH?record=SPEC           record the calls of SPEC (anthropic:/openai:) into PATH
 */
import * as z from 'zod';
import { LMError } from './errors.js';

const ModelName = z.string().regex(/^\S+$/, 'a model name without spaces');

export const AnthropicSpecSchema = z.object({ kind: z.literal('anthropic'), model: ModelName });
export const OpenAISpecSchema = z.object({
  kind: z.literal('openai'),
  baseURL: z.string().regex(/^https?:\/\/\S+$/, 'an http(s) URL'),
  model: ModelName,
});
export const DummySpecSchema = z.object({
  kind: z.literal('dummy'),
  mode: z.literal('follow-demos').optional(),
});
/** An LM that calls a real API: what a cassette can record. */
export const RemoteSpecSchema = z.discriminatedUnion('kind', [AnthropicSpecSchema, OpenAISpecSchema]);
export const CassetteSpecSchema = z.object({
  kind: z.literal('cassette'),
  path: z.string().min(1),
  record: RemoteSpecSchema.optional(),
});
export const LMSpecSchema = z.discriminatedUnion('kind', [
  AnthropicSpecSchema,
  OpenAISpecSchema,
  DummySpecSchema,
  CassetteSpecSchema,
]);

export type AnthropicSpec = z.infer<typeof AnthropicSpecSchema>;
export type OpenAISpec = z.infer<typeof OpenAISpecSchema>;
export type DummySpec = z.infer<typeof DummySpecSchema>;
export type RemoteSpec = z.infer<typeof RemoteSpecSchema>;
export type CassetteSpec = z.infer<typeof CassetteSpecSchema>;
export type LMSpec = z.infer<typeof LMSpecSchema>;

export const LM_SPEC_FORMS =
  'anthropic:MODEL, openai:BASEURL#MODEL, openai:MODEL, offline, dummy, cassette:PATH, cassette:PATH?record=SPEC';

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

function specError(spec: string, why: string): LMError {
  return new LMError(`invalid LM spec ${JSON.stringify(spec)}: ${why} (accepted: ${LM_SPEC_FORMS})`, {
    kind: 'config',
    provider: 'spec',
    retryable: false,
  });
}

function validated(spec: string, value: unknown): LMSpec {
  const r = LMSpecSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw specError(spec, `${where}${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** Validates an already-structured spec (e.g. from JSON), with the same errors as parseLMSpec. */
export function validateLMSpec(spec: unknown): LMSpec {
  const shown = (() => {
    try {
      return JSON.stringify(spec) ?? String(spec);
    } catch {
      return String(spec);
    }
  })();
  return validated(shown, spec);
}

export function parseLMSpec(spec: string): LMSpec {
  if (typeof spec !== 'string') throw specError(String(spec), 'a spec is a string');
  const s = spec.trim();
  if (s === 'offline') return { kind: 'dummy', mode: 'follow-demos' };
  if (s === 'dummy') return { kind: 'dummy' };
  const colon = s.indexOf(':');
  if (colon <= 0) throw specError(spec, 'expected PROVIDER:...');
  const scheme = s.slice(0, colon);
  const rest = s.slice(colon + 1);
  switch (scheme) {
    case 'anthropic':
      if (!rest) throw specError(spec, 'missing model, e.g. anthropic:claude-sonnet-4-5');
      return validated(spec, { kind: 'anthropic', model: rest });
    case 'openai': {
      if (!rest) throw specError(spec, 'missing model, e.g. openai:http://127.0.0.1:11434/v1#llama3');
      const hash = rest.lastIndexOf('#');
      if (hash === -1) {
        if (/^https?:\/\//.test(rest)) throw specError(spec, 'missing #MODEL after the base URL');
        return validated(spec, { kind: 'openai', baseURL: DEFAULT_OPENAI_BASE_URL, model: rest });
      }
      const baseURL = rest.slice(0, hash);
      const model = rest.slice(hash + 1);
      if (!model) throw specError(spec, 'empty model after #');
      return validated(spec, { kind: 'openai', baseURL, model });
    }
    case 'cassette': {
      const q = rest.lastIndexOf('?record=');
      if (q === -1) {
        if (!rest) throw specError(spec, 'missing cassette path');
        return validated(spec, { kind: 'cassette', path: rest });
      }
      const path = rest.slice(0, q);
      const inner = rest.slice(q + '?record='.length);
      if (!path) throw specError(spec, 'missing cassette path');
      let record: LMSpec;
      try {
        record = parseLMSpec(inner);
      } catch (e) {
        throw specError(spec, `record=: ${(e as Error).message}`);
      }
      if (record.kind !== 'anthropic' && record.kind !== 'openai') {
        throw specError(spec, 'record= must name a real LM (anthropic:... or openai:...)');
      }
      return validated(spec, { kind: 'cassette', path, record });
    }
    default:
      throw specError(spec, `unknown provider ${JSON.stringify(scheme)}`);
  }
}

/** The string form of a spec (parseLMSpec(formatLMSpec(s)) deep-equals s). */
export function formatLMSpec(spec: LMSpec): string {
  switch (spec.kind) {
    case 'anthropic':
      return `anthropic:${spec.model}`;
    case 'openai':
      return `openai:${spec.baseURL}#${spec.model}`;
    case 'dummy':
      return spec.mode === 'follow-demos' ? 'offline' : 'dummy';
    case 'cassette':
      return spec.record ? `cassette:${spec.path}?record=${formatLMSpec(spec.record)}` : `cassette:${spec.path}`;
  }
}
