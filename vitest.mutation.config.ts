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
  },
});
