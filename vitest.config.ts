import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The integration suites (they start sidecars) first. Vitest runs the files that took longest
 * last time first; with no timings (a fresh clone, as in CI) it runs the largest files first,
 * and small, slow files like the protocol vectors (27 s) came last, on one worker, with the
 * other core idle.
 */
class IntegrationFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const integration = (f: TestSpecification) => /[\\/]test[\\/](wire|sidecar|package)[\\/]/.test(f.moduleId);
    return [...sorted.filter(integration), ...sorted.filter((f) => !integration(f))];
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites spawn real processes; keep the 2-core machine from oversubscribing.
    maxWorkers: 2,
    // Each worker imports src/ once instead of once per test file: the suite's import time fell
    // from 30 s to 10 s and its CPU time by about 40%. Test files share a worker's modules, so a
    // test that changes process-wide state (dspy `settings`, process.env, a module's cache)
    // restores it; the suite passes in shuffled order (`--sequence.shuffle`).
    isolate: false,
    sequence: { sequencer: IntegrationFirst },
  },
});
