import { defineConfig } from 'vitest/config';

// The unit suites that pin the mutated modules' behaviour. Integration suites (test/wire,
// test/sidecar, learning crash tests) spawn dist/, which Stryker does not mutate: running them
// per mutant would cost minutes and kill nothing.
export default defineConfig({
  test: {
    include: [
      'test/dspy/**/*.test.ts',
      'test/optimizers/**/*.test.ts',
      'test/pipeline/metrics*.test.ts',
      'test/pipeline/metrics/**/*.test.ts',
      'test/run/**/*.test.ts',
      'test/learning/guard.test.ts',
      'test/learning/policy*.test.ts',
    ],
    // These two spawn dist/ (the sidecar, a child process): they cover no mutated code.
    exclude: ['test/optimizers/resume.test.ts', 'test/run/faults.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 1,
    // A mutant's run imports src/ once, not once per test file that covers it: with isolation a
    // mutant in a module most suites use (signatures, predictors) re-imported src/ dozens of
    // times, and a whole run took about 5 hours on 2 cores. Isolation is what static mutants
    // (code that runs at import) need, and they are left out unless MUTATION_STATIC=1, which
    // turns it back on. Each mutant's run still imports src/ afresh, so no module state outlives
    // a mutant. Checked against isolated runs: the same status for each of 609 mutants of
    // GEPA's parts and structured output (three isolated timeouts are kills here).
    isolate: process.env.MUTATION_STATIC === '1',
  },
});
