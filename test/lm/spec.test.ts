import { describe, expect, it } from 'vitest';
import { formatLMSpec, parseLMSpec, validateLMSpec } from '../../src/lm/spec.js';

describe('parseLMSpec', () => {
  it('parses every documented form', () => {
    expect(parseLMSpec('anthropic:claude-sonnet-4-5')).toEqual({ kind: 'anthropic', model: 'claude-sonnet-4-5' });
    expect(parseLMSpec('openai:http://127.0.0.1:11434/v1#llama3')).toEqual({
      kind: 'openai',
      baseURL: 'http://127.0.0.1:11434/v1',
      model: 'llama3',
    });
    expect(parseLMSpec('openai:http://localhost:8000/v1#qwen2.5:7b')).toMatchObject({ model: 'qwen2.5:7b' });
    expect(parseLMSpec('openai:gpt-4o-mini')).toEqual({ kind: 'openai', baseURL: 'https://api.openai.com/v1', model: 'gpt-4o-mini' });
    expect(parseLMSpec('offline')).toEqual({ kind: 'dummy', mode: 'follow-demos' });
    expect(parseLMSpec('dummy')).toEqual({ kind: 'dummy' });
    expect(parseLMSpec('cassette:/tmp/a.jsonl')).toEqual({ kind: 'cassette', path: '/tmp/a.jsonl' });
    expect(parseLMSpec('cassette:runs/x.jsonl?record=anthropic:claude-haiku-4-5')).toEqual({
      kind: 'cassette',
      path: 'runs/x.jsonl',
      record: { kind: 'anthropic', model: 'claude-haiku-4-5' },
    });
  });

  it('round-trips through formatLMSpec', () => {
    for (const s of [
      'anthropic:claude-haiku-4-5',
      'openai:http://127.0.0.1:11434/v1#llama3',
      'offline',
      'dummy',
      'cassette:a.jsonl',
      'cassette:a.jsonl?record=openai:http://h:1/v1#m',
    ]) {
      expect(formatLMSpec(parseLMSpec(s))).toBe(s);
    }
  });

  it('rejects bad specs with an error that says what is accepted', () => {
    const bad = [
      '',
      'anthropic:',
      'anthropic:claude sonnet',
      'gemini:pro',
      'openai:http://127.0.0.1:11434/v1',
      'openai:ftp://x#m',
      'openai:http://h/v1#',
      'cassette:',
      'cassette:x.jsonl?record=offline',
      'cassette:x.jsonl?record=cassette:y',
    ];
    for (const s of bad) {
      let err: unknown;
      try {
        parseLMSpec(s);
      } catch (e) {
        err = e;
      }
      expect(err, s).toMatchObject({ name: 'LMError', kind: 'config' });
      expect((err as Error).message).toContain('accepted:');
    }
  });
});

describe('validateLMSpec', () => {
  it('accepts structured specs and rejects malformed ones as config errors', () => {
    expect(validateLMSpec({ kind: 'anthropic', model: 'claude-haiku-4-5' })).toEqual({ kind: 'anthropic', model: 'claude-haiku-4-5' });
    expect(() => validateLMSpec({ kind: 'openai', model: 'm' })).toThrow(/baseURL/);
    expect(() => validateLMSpec({ kind: 'gpt' })).toThrow(/accepted:/);
  });
});
