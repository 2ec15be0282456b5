/**
 * Issue #11 item 2: no LM call that sequential DSPy would not make. A loopback provider counts
 * every request it receives; at concurrency 1, 4 and 16 each optimizer's reported usage
 * (`sent`) accounts for that count (equal at concurrency 1; a request cancelled as it left may
 * be counted without arriving), stays within 1.1x of the sequential walk's (concurrency 1),
 * and the result is the sequential one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settings, type Module } from '../../src/dspy/index.js';
import { createLM } from '../../src/lm_factory/create.js';
import { RateLimiterRegistry } from '../../src/lm/rate_limiter.js';
import { BootstrapFewShot, BootstrapFewShotWithRandomSearch, MIPROv2 } from '../../src/optimizers/index.js';
import type { CompileResult } from '../../src/optimizers/types.js';
import { CountingOpenAI } from '../support/counting_openai.js';
import { captureLogger } from '../lm/helpers.js';
import { QA, exact, qa } from './helpers.js';

let server: CountingOpenAI;
beforeAll(async () => {
  // The teacher is right 2 times in 3 (as in the measurement), and never on 7..12, so
  // walks meet a run of failures too.
  server = await CountingOpenAI.start({ wrong: (i) => i % 3 === 2 || (i >= 7 && i <= 12) });
});
afterAll(async () => {
  await server.close();
});

type Compile = (concurrency: number) => Promise<CompileResult<Module>>;

async function measured(compile: Compile, concurrency: number) {
  const lm = createLM(`openai:${server.baseURL}#counted`, {
    limiter: { maxConcurrent: 16 },
    limiterRegistry: new RateLimiterRegistry(),
    logger: captureLogger().logger,
    prices: { counted: { inputPerMTok: 1, outputPerMTok: 1 } },
  });
  await server.settled();
  const before = server.requests;
  const result = await settings.context({ lm }, () => compile(concurrency));
  await server.settled();
  return { result, requests: server.requests - before };
}

/**
 * The run's usage accounts for what the provider received: every request it counts as answered
 * arrived, and every request that arrived is counted. (A request cancelled as it left may or may
 * not have reached the server: it is counted as sent, and aborted, either way.)
 */
function expectUsageMatches(usage: { sent: number; aborted: number }, received: number) {
  expect(received).toBeLessThanOrEqual(usage.sent);
  expect(received).toBeGreaterThanOrEqual(usage.sent - usage.aborted);
}

const demosOf = (r: CompileResult<Module>) =>
  JSON.stringify(r.program.namedPredictors().map(([n, p]) => [n, p.signature.instructions, p.demos.map((d) => d.toDict())]));

async function checkAgainstSequential(compile: Compile) {
  const seq = await measured(compile, 1);
  expect(seq.requests).toBeGreaterThan(0);
  expect(seq.result.report.usage.sent).toBe(seq.requests);
  expect(seq.result.report.usage.aborted).toBe(0);
  const figures = [];
  for (const concurrency of [4, 16]) {
    const run = await measured(compile, concurrency);
    // Every request the provider received is in the usage the run reports...
    expectUsageMatches(run.result.report.usage, run.requests);
    // ...and the run sent at most 10% more than the sequential walk.
    expect(run.result.report.usage.sent).toBeLessThanOrEqual(Math.floor(seq.requests * 1.1));
    expect(demosOf(run.result)).toBe(demosOf(seq.result));
    figures.push({ concurrency, requests: run.requests, sent: run.result.report.usage.sent, aborted: run.result.report.usage.aborted });
  }
  if (process.env['LM_CALLS_VERBOSE']) console.error(JSON.stringify({ sequential: seq.requests, figures }));
  return { sequential: seq.requests, figures };
}

const trainset = qa(40);
const valset = qa(12, 100);

describe('LM requests sent vs the sequential walk (counted by the provider)', () => {
  it('BootstrapFewShot', async () => {
    const r = await checkAgainstSequential((concurrency) =>
      new BootstrapFewShot({ maxBootstrappedDemos: 8, maxLabeledDemos: 0 }).compile(new QA(), { trainset, metric: exact, concurrency, seed: 1 }),
    );
    // 8 successes need examples 0..16 in order (0 1 3 4 6, then none in 7..12, then 13 15 16).
    expect(r.sequential).toBe(17);
  });

  it('BootstrapFewShotWithRandomSearch', async () => {
    await checkAgainstSequential((concurrency) =>
      new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 3, maxBootstrappedDemos: 4, maxLabeledDemos: 2 }).compile(new QA(), {
        trainset,
        valset,
        metric: exact,
        concurrency,
        seed: 2,
      }),
    );
  });

  it('BootstrapFewShotWithRandomSearch stopping early at stopAtScore builds nothing past the stop', async () => {
    const r = await checkAgainstSequential((concurrency) =>
      // Starts at the labeled candidate (-2), which reaches stopAtScore: the walk of -1 must not start.
      new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 3, maxBootstrappedDemos: 4, maxLabeledDemos: 2, stopAtScore: 0, restrict: [-2, -1, 0, 1] }).compile(new QA(), {
        trainset,
        valset,
        metric: exact,
        concurrency,
        seed: 2,
      }),
    );
    // Only the labeled candidate is scored: one call per valset example, no bootstrap walk.
    expect(r.sequential).toBe(valset.length);
    for (const f of r.figures) expect(f.sent).toBe(valset.length);
  });

  it('MIPROv2 (small configuration)', async () => {
    await checkAgainstSequential((concurrency) =>
      new MIPROv2({ auto: null, numCandidates: 4, numTrials: 4, minibatchSize: 6, maxBootstrappedDemos: 3, maxLabeledDemos: 2 }).compile(new QA(), {
        trainset,
        valset,
        metric: exact,
        concurrency,
        seed: 3,
      }),
    );
  });
});
