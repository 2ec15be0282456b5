import { defineConfig } from 'vitest/config';

// The unit suites that pin the mutated modules' behaviour. Integration suites (test/wire,
// test/sidecar, learning crash tests) spawn dist/, which Stryker does not mutate: running them
// per mutant would cost minutes and kill nothing.
export default defineConfig({
  test: {
    include: [
      'test/dspy/**/*.test.ts',
      // Structured output and streaming (src/dspy) are tested with the providers, in test/lm.
      'test/lm/structured_output.test.ts',
      'test/lm/streaming.test.ts',
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
    // times, and a whole run took about 5 hours on 2 cores. Each mutant's run still imports src/
    // afresh, so no module state outlives a mutant, and a static mutant (code that runs at
    // import) is switched on before that import. Checked against isolated runs: the same status
    // for each of 609 mutants of GEPA's parts and structured output (three isolated timeouts are
    // kills here), and for static and runtime mutants of a module-level cache and constants.
    isolate: false,
  },
});
