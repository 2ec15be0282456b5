import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';
import { FakeElixir, serveReferenceExecutions } from '../support/fake_elixir.js';
import { FaultyProvider, type Fault } from './fault_provider.js';

// A provider that goes down mid-run (429s, 500s, dropped connections, still failing after the
// provider's own retries): the run ends cleanly, journals none of the failed work, and the same
// request with the same run id, once the provider is back, ends with the files an
// uninterrupted run writes, byte for byte. Candidates run in "Elixir" (the fake executor),
// whose LM calls come back to the sidecar as lm/generate and go out to the provider over HTTP.
const params = (lm: string, outDir: string, runId: string, concurrency = 1) => ({
  pipeline: { path: join(ROOT, 'examples/code_analysis/pipeline.yaml') },
  trainingData: { dir: join(ROOT, 'examples/code_analysis/training_data') },
  lm,
  optimizer: { name: 'BootstrapFewShot', options: { maxBootstrappedDemos: 3 } },
  seed: 7,
  concurrency,
  outDir,
  runId,
  progressToken: runId,
});

const started: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

async function sidecar(): Promise<FakeElixir> {
  const e = serveReferenceExecutions(new FakeElixir());
  started.push(e);
  await e.initialize();
  return e;
}

let reference: { yaml: string; program: string; requests: number; baselineRequests: number };

beforeAll(async () => {
  const provider = await FaultyProvider.start();
  started.push(provider);
  const e = await sidecar();
  const out = mkdtempSync(join(tmpdir(), 'elexirion-faults-ref-'));
  const r = await e.request('optimize', params(provider.spec, out, 'run-ref'));
  expect(r.error).toBeUndefined();
  expect(r.result.verdict.written).toBe(true);
  reference = {
    yaml: readFileSync(r.result.optimizedYamlPath, 'utf8'),
    program: readFileSync(r.result.programPath, 'utf8'),
    requests: provider.requests,
    baselineRequests: r.result.verdict.heldOut,
  };
}, 120_000);

const journalText = (out: string, runId: string) =>
  ['journal.jsonl', 'scores/journal.jsonl']
    .map((f) => join(out, '.elexirion/runs', runId, f))
    .filter((p) => existsSync(p))
    .map((p) => readFileSync(p, 'utf8'))
    .join('');

describe('resume through provider faults', () => {
  // `at` picks the first failing request: while scoring the baseline, mid-optimization, while
  // scoring the optimized program.
  // The reference ran one execution at a time; a run with 4 at once commits its work in the
  // same order, so it resumes to the same files too.
  const cases: Array<{ fault: Fault; at: (r: typeof reference) => number; phase: string; concurrency: number }> = [
    { fault: '429', at: () => 3, phase: 'baseline', concurrency: 1 },
    { fault: '500', at: (r) => r.baselineRequests + 4, phase: 'optimize', concurrency: 1 },
    { fault: 'drop', at: (r) => r.requests - 2, phase: 'final', concurrency: 1 },
    { fault: '500', at: (r) => r.baselineRequests + 6, phase: 'optimize', concurrency: 4 },
  ];

  it.each(cases)('$fault while in $phase (concurrency $concurrency): ends cleanly, resumes to the same files', async ({ fault, at, phase, concurrency }) => {
    const provider = await FaultyProvider.start();
    started.push(provider);
    const e = await sidecar();
    const out = mkdtempSync(join(tmpdir(), `elexirion-faults-${fault}-`));
    const runId = `run-${fault}-${concurrency}`;

    provider.failFrom(at(reference), fault);
    const broken = await e.request('optimize', params(provider.spec, out, runId, concurrency));
    expect(provider.failed).toBeGreaterThan(0);
    if (phase === 'baseline') {
      // Nothing to compare with yet: a clean error saying the run can be resumed.
      expect(broken.error).toMatchObject({ code: -32011, data: { runId, phase: 'baseline', resumable: true } });
      // It says what was spent: every request the provider received, the failed ones too.
      expect(broken.error!.data.usage.sent).toBe(provider.requests);
      expect(broken.error!.message).toContain(`resume with runId ${runId}`);
    } else {
      expect(broken.error).toBeUndefined();
      expect(broken.result.cutShort).toBe(true);
      expect(broken.result.cutShortReason).toMatch(/^provider: openai/);
      expect(broken.result.verdict).toMatchObject({ written: false, improved: false });
      expect(broken.result.optimizedYamlPath).toBeUndefined();
    }
    expect(existsSync(join(out, 'pipelines'))).toBe(false);
    // The failed work is not journaled as finished: no journal record carries the provider's error.
    expect(journalText(out, runId)).not.toContain('openai:');

    provider.heal();
    const resumed = await e.request('optimize', params(provider.spec, out, runId, concurrency));
    expect(resumed.error).toBeUndefined();
    expect(resumed.result.cutShort).toBe(false);
    expect(resumed.result.resumed.done).toBeGreaterThan(0);
    expect(resumed.result.resumed.total).toBeGreaterThan(resumed.result.resumed.done);
    const notes = e.notifications.filter((n) => n.method === '$/progress' && n.params.token === runId && n.params.value.phase === 'resume');
    expect(notes).toHaveLength(1);
    expect(notes[0]!.params.value.message).toMatch(new RegExp(`^resuming run ${runId}: ${resumed.result.resumed.done} of \\d+ done$`));
    expect(readFileSync(resumed.result.optimizedYamlPath, 'utf8')).toBe(reference.yaml);
    expect(readFileSync(resumed.result.programPath, 'utf8')).toBe(reference.program);
  }, 120_000);
});
