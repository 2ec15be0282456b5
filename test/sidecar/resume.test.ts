import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';
import { FakeElixir, serveReferenceExecutions } from '../support/fake_elixir.js';

// A run killed with the sidecar (kill -9) resumes from its journal when started again with the
// same run id and output directory, skips finished work, and ends with the same program as a
// run that was never interrupted.
const started: FakeElixir[] = [];

function elixirPeer(delayMs = 0): FakeElixir {
  const e = serveReferenceExecutions(new FakeElixir(), { delayMs });
  started.push(e);
  return e;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.close()));
});

const params = (outDir: string, runId: string) => ({
  pipeline: { path: join(ROOT, 'examples/refactoring/pipeline.yaml') },
  trainingData: { dir: join(ROOT, 'examples/refactoring/training_data') },
  lm: 'offline',
  optimizer: { name: 'BootstrapFewShotWithRandomSearch', options: { numCandidatePrograms: 3, maxBootstrappedDemos: 2, maxLabeledDemos: 2 } },
  seed: 11,
  concurrency: 1,
  outDir,
  runId,
  progressToken: runId,
  writeAnyway: true, // the files are compared whatever the verdict
});

const executions = (e: FakeElixir) => e.callbacks.filter((c) => c.method === 'pipeline/execute').length;

describe('resume after kill -9 of the sidecar', () => {
  it('ends with the same program as an uninterrupted run, redoing less work', async () => {
    const refOut = mkdtempSync(join(tmpdir(), 'elexirion-ref-'));
    const ref = elixirPeer();
    await ref.initialize();
    const uninterrupted = await ref.request('optimize', params(refOut, 'run-a'));
    expect(uninterrupted.error).toBeUndefined();
    const fullExecutions = executions(ref);

    const out = mkdtempSync(join(tmpdir(), 'elexirion-resume-'));
    const journal = join(out, '.elexirion/runs/run-b/journal.jsonl');
    const victim = elixirPeer(3);
    await victim.initialize();
    void victim.request('optimize', params(out, 'run-b'));
    await expect
      .poll(() => (existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').length : 0), { timeout: 60_000, interval: 20 })
      .toBeGreaterThan(6);
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));

    const again = elixirPeer();
    await again.initialize();
    const resumed = await again.request('optimize', params(out, 'run-b'));
    expect(resumed.error).toBeUndefined();
    expect(resumed.result.trials.some((t: { resumed?: boolean }) => t.resumed)).toBe(true);
    // it says so: the baseline and the optimizer's finished units were read back, not redone
    expect(resumed.result.resumed.done).toBeGreaterThan(6);
    const note = again.notifications.find((n) => n.method === '$/progress' && n.params.value.phase === 'resume');
    expect(note?.params.value.message).toMatch(new RegExp(`^resuming run run-b: ${resumed.result.resumed.done} of \\d+ done$`));
    expect(resumed.result.baselineScore).toBe(uninterrupted.result.baselineScore);
    expect(executions(again)).toBeLessThan(fullExecutions);
    expect(readFileSync(resumed.result.programPath, 'utf8')).toBe(readFileSync(uninterrupted.result.programPath, 'utf8'));
    expect(resumed.result.bestScore).toBe(uninterrupted.result.bestScore);
  });
});
