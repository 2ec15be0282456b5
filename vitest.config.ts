import { defineConfig } from 'vitest/config';

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
  },
});
