import { mkdtempSync, openSync, readFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createLogger, isSecretKey, redactSecrets, resolveLogLevel } from '../../src/sidecar/logger.js';

it('redacts API keys, authorization and token fields at any depth, keeps token counts', () => {
  for (const k of ['apiKey', 'api_key', 'x-api-key', 'ANTHROPIC_API_KEY', 'authorization', 'accessToken', 'token', 'clientSecret', 'password'])
    expect(isSecretKey(k), k).toBe(true);
  for (const k of ['inputTokens', 'maxTokens', 'model', 'monkeys']) expect(isSecretKey(k), k).toBe(false);

  const file = join(mkdtempSync(join(tmpdir(), 'elexirion-log-')), 'log');
  const fd = openSync(file, 'w');
  const logger = createLogger('info', fd);
  logger.info({ provider: { apiKey: 'sk-secret-1', headers: { authorization: 'Bearer sk-secret-2' } }, usage: { maxTokens: 5 }, list: [{ token: 'sk-secret-3' }] }, 'hello');
  logger.child({ apiKey: 'sk-secret-4' }).info('child');
  closeSync(fd);
  const text = readFileSync(file, 'utf8');
  expect(text).not.toContain('sk-secret');
  const first = JSON.parse(text.split('\n')[0]!) as { usage: { maxTokens: number }; provider: { apiKey: string } };
  expect(first.usage.maxTokens).toBe(5);
  expect(first.provider.apiKey).toBe('[redacted]');
  expect(redactSecrets({ a: [{ secret: 1 }] })).toEqual({ a: [{ secret: '[redacted]' }] });
});

it('takes the level from the flag, then ELEXIRION_LOG_LEVEL, then info', () => {
  expect(resolveLogLevel('debug', { ELEXIRION_LOG_LEVEL: 'error' })).toBe('debug');
  expect(resolveLogLevel(undefined, { ELEXIRION_LOG_LEVEL: 'error' })).toBe('error');
  expect(resolveLogLevel(undefined, {})).toBe('info');
});
