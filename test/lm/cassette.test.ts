import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CassetteLM, cassetteHash, loadCassette } from '../../src/lm/cassette.js';
import { createLM } from '../../src/lm_factory/create.js';
import { LMError } from '../../src/lm/errors.js';
import { RateLimiterRegistry } from '../../src/lm/rate_limiter.js';
import { FakeAnthropic, reply } from '../support/fake_anthropic.js';
import { ScriptedProvider, captureLogger, msgs } from './helpers.js';

const dirs: string[] = [];
const tmpFile = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'lm-cassette-'));
  dirs.push(d);
  return path.join(d, 'calls.jsonl');
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const log = () => captureLogger().logger;

describe('CassetteLM', () => {
  it('records calls (one fsynced JSONL line each) and replays them without the real LM', async () => {
    const file = tmpFile();
    const inner = new ScriptedProvider('claude-haiku-4-5');
    const rec = new CassetteLM({ path: file, mode: 'record', inner, logger: log() });
    const a = await rec.generate(msgs('one'));
    const b = await rec.generate(msgs('two'), { temperature: 0.5 });
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);

    const play = new CassetteLM({ path: file, mode: 'replay', logger: log() });
    expect(await play.generate(msgs('one'))).toMatchObject({ text: a.text, usage: a.usage, model: 'claude-haiku-4-5' });
    expect((await play.generate(msgs('two'), { temperature: 0.5 })).text).toBe(b.text);
    expect(inner.calls).toBe(2);
    expect(play.billable).toBe(false);
  });

  it('fails clearly on a miss, naming the hash and the cassette and how to record', async () => {
    const file = tmpFile();
    const play = new CassetteLM({ path: file, mode: 'replay', logger: log() });
    const e = await play.generate(msgs('never recorded')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LMError);
    expect(e).toMatchObject({ kind: 'cassette_miss', retryable: false });
    const m = (e as Error).message;
    expect(m).toContain(cassetteHash(msgs('never recorded')));
    expect(m).toContain(file);
    expect(m).toContain('?record=');
  });

  it('ignores a torn last line on load, and cuts it before recording resumes', async () => {
    const file = tmpFile();
    const inner = new ScriptedProvider();
    await new CassetteLM({ path: file, mode: 'record', inner, logger: log() }).generate(msgs('kept'));
    appendFileSync(file, '{"v":1,"hash":"abc","request":{"mess'); // crash mid-append
    const { logger, lines } = captureLogger();
    const play = new CassetteLM({ path: file, mode: 'replay', logger });
    expect((await play.generate(msgs('kept'))).text).toBe('answer 1');
    expect(lines.some((l) => l.includes('torn last line'))).toBe(true);

    await new CassetteLM({ path: file, mode: 'record', inner, logger: log() }).generate(msgs('next'));
    const loaded = await loadCassette(file);
    expect(loaded.tornLastLine).toBe(false);
    expect(loaded.entries.size).toBe(2);
  });

  it('rejects an invalid line that is not the torn tail, naming its line number', async () => {
    const file = tmpFile();
    await new CassetteLM({ path: file, mode: 'record', inner: new ScriptedProvider(), logger: log() }).generate(msgs('a'));
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good + '{"v":1,"hash":"nothex"}\n' + good);
    await expect(loadCassette(file)).rejects.toThrow(/line 2 is invalid/);
  });
});

describe('cassette specs through createLM with the real Anthropic SDK', () => {
  let fake: FakeAnthropic;
  beforeAll(async () => {
    fake = await FakeAnthropic.start();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('cassette:PATH?record=anthropic:MODEL records; cassette:PATH replays offline', async () => {
    const file = tmpFile();
    fake.enqueue(reply.ok('recorded answer', { input: 40, output: 4 }));
    const recorder = createLM(`cassette:${file}?record=anthropic:claude-haiku-4-5`, {
      apiKey: 'sk-test',
      anthropic: { baseURL: fake.baseURL },
      logger: log(),
      limiterRegistry: new RateLimiterRegistry(),
    });
    const r = await recorder.generate(msgs('what?'));
    expect(r).toMatchObject({ text: 'recorded answer', cached: false });
    expect(r.costUsd).toBeGreaterThan(0); // recording is a real, paid call
    expect(fake.messageRequests).toHaveLength(1);

    const player = createLM(`cassette:${file}`, { logger: log() });
    const p = await player.generate(msgs('what?'));
    expect(p).toMatchObject({ text: 'recorded answer', usage: { inputTokens: 40, outputTokens: 4 }, costUsd: 0 });
    expect(fake.messageRequests).toHaveLength(1);
    await expect(player.generate(msgs('other'))).rejects.toMatchObject({ kind: 'cassette_miss' });
  });
});
