import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderChatAnswer } from '../../src/dspy/dummy_lm.js';
import { ROOT } from '../support/build.js';
import { serveReferenceExecutions, type FakeElixir } from '../support/fake_elixir.js';
import { initialize, sidecar, tempDataDir } from './telemetry_helpers.js';

// Continuous learning with GEPA: a registration names `optimizer: {name: "GEPA"}`, its only
// training examples are production executions (telemetry turned into examples by the
// feedback pass), and GEPA's reflection reads those executions with the metric's feedback.
// The learner's LM is an OpenAI-compatible server on loopback that keeps every prompt, so the
// reflection prompts can be read: the pipeline's own prompts get an answer that is not JSON
// (every candidate fails the metric), reflection prompts get a new instruction.

/** Keeps every prompt; answers reflections with an instruction, anything else with plain text. */
async function promptRecorder(): Promise<{ baseURL: string; prompts: string[]; close: () => Promise<void> }> {
  const prompts: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messages: Array<{ content: string }> };
      const prompt = body.messages.map((m) => m.content).join('\n');
      prompts.push(prompt);
      const text = prompt.includes('examples_with_feedback') ? renderChatAnswer({ new_instruction: 'Answer with one JSON object.' }) : 'I looked at the module.';
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ model: 'recorder', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5 } }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    prompts,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let e: FakeElixir | undefined;
let dir: string;
let lm: Awaited<ReturnType<typeof promptRecorder>>;

beforeEach(async () => {
  dir = tempDataDir('elexirion-learner-gepa-');
  lm = await promptRecorder();
});

afterEach(async () => {
  await e?.close();
  await lm.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A production execution of code_analysis worth keeping (success with findings). */
const execution = (i: number) => ({
  event: ['pipeline', 'execution', 'stop'],
  measurements: { duration_ms: 10 },
  metadata: {
    pipeline: 'code_analysis',
    execution_id: `prod-${i}`,
    input: { code: `defmodule Production${i} do end`, analysis_type: 'otp' },
    result: { status: 'success', findings: [`module Production${i} is empty`], recommendations: ['add code'], severity: 'low' },
  },
  time: Date.now(),
});

describe('the learner with GEPA', () => {
  it('reflects on production executions with the metric\'s feedback', { timeout: 120_000 }, async () => {
    e = sidecar(dir);
    serveReferenceExecutions(e);
    await initialize(e, {
      learning: {
        lm: `openai:${lm.baseURL}#recorder`,
        pipelines: {
          code_analysis: {
            path: join(ROOT, 'examples/code_analysis/pipeline.yaml'),
            // no registered training data: every example is a production execution
            optimizer: { name: 'GEPA', options: { maxMetricCalls: 30 } },
            metric: { name: 'valid_json', options: { requiredKeys: ['findings', 'severity'] } },
            seed: 3,
            valFraction: 0.4,
          },
        },
        guard: { margin: 0 },
        schedule: { timeZone: 'UTC', daily: '0 2 * * *', weekly: '0 3 * * 0', feedback: '*/10 * * * *' },
      },
    });
    e.send({ jsonrpc: '2.0', method: 'telemetry/events', params: { events: Array.from({ length: 10 }, (_, i) => execution(i)), dropped: 0 } });

    const r = await e.request('learning/optimize', { pipeline: 'code_analysis', mode: 'light', progressToken: 'learn-gepa' });
    expect(r.error).toBeUndefined();
    // Every candidate fails the metric: nothing beats the config in force, nothing is promoted.
    expect(r.result.decision).toBe('rejected');

    // GEPA ran (its own progress messages), on the production examples.
    const messages = e.notifications.filter((n) => n.method === '$/progress' && n.params.token === 'learn-gepa').map((n) => String(n.params.value.message ?? ''));
    expect(messages.some((m) => m.startsWith('GEPA: seed candidate'))).toBe(true);
    const reflections = lm.prompts.filter((p) => p.includes('examples_with_feedback'));
    expect(reflections.length).toBeGreaterThan(0);
    // What the reflection LM read: a production execution's input, the step's output, and the
    // metric's own feedback (not just a number).
    expect(reflections[0]).toMatch(/defmodule Production\d+ do end/);
    expect(reflections[0]).toContain('I looked at the module.');
    expect(reflections[0]).toContain('The answer is not JSON: "I looked at the module."');
    const ledger = readFileSync(join(dir, 'learning', 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(ledger.at(-1)).toMatchObject({ decision: 'rejected' });
  });
});
