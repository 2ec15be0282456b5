import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { OptimizeRunResult, RunProgress } from '../../src/protocol/run.js';
import { optimizeRun } from '../../src/run/index.js';
import { referenceExecutor } from '../pipeline/helpers.js';
import { codeAnalysisParams, flaky, inProcessHost } from './helpers.js';

// The same guarantees without the sidecar: a Node program running the run home with its own
// executor, whose LM starts failing with a rate limit mid-run (as a provider does once its
// retries are spent). The run ends with the best so far and resumes to the same files.
describe('resume through a provider fault, in process', () => {
  it('ends cleanly with the best so far, journals no failed work, and resumes to the same files', async () => {
    const base = { optimizer: { name: 'BootstrapFewShot', options: { maxBootstrappedDemos: 3 } }, concurrency: 1, seed: 7 };
    const refHost = inProcessHost();
    const ref = (await optimizeRun(codeAnalysisParams({ ...base, runId: 'ref' }), refHost)) as OptimizeRunResult;
    expect(ref.verdict?.written).toBe(true);

    const host = inProcessHost();
    const lm = flaky(host.lms.get('offline'));
    // The pipeline as written renders no worked examples: its executions are the baseline's.
    let baselineExecutions = 0;
    host.executorFor = () => {
      const inner = referenceExecutor(lm);
      return (config, inputs, ctx) => {
        if (!JSON.stringify(config).includes('### Example')) baselineExecutions += 1;
        return inner(config, inputs, ctx);
      };
    };
    const progress: RunProgress[] = [];
    host.progress = (v) => progress.push(v);
    const params = codeAnalysisParams({ ...base, runId: 'flaky' });

    lm.failFrom = 10; // the baseline takes 6: this is mid-bootstrap
    const broken = (await optimizeRun(params, host)) as OptimizeRunResult;
    expect(broken.cutShort).toBe(true);
    expect(broken.cutShortReason).toBe('provider: openai: HTTP 429 rate limited');
    expect(broken.verdict).toMatchObject({ written: false });
    const journal = readFileSync(`${params.outDir}/.elexirion/runs/flaky/journal.jsonl`, 'utf8');
    expect(journal).not.toContain('429');

    expect(baselineExecutions).toBe(6);
    lm.failFrom = undefined;
    const resumed = (await optimizeRun(params, host)) as OptimizeRunResult;
    expect(baselineExecutions).toBe(6); // the baseline was journaled: read back, not run again
    expect(resumed.resumed!.done).toBeGreaterThanOrEqual(6 + 3); // the baseline and the walked examples
    expect(progress.filter((p) => p.phase === 'resume').map((p) => p.message)).toEqual([
      expect.stringMatching(new RegExp(`^resuming run flaky: ${resumed.resumed!.done} of \\d+ done$`)),
    ]);
    expect(readFileSync(resumed.optimizedYamlPath!, 'utf8')).toBe(readFileSync(ref.optimizedYamlPath!, 'utf8'));
    expect(readFileSync(resumed.programPath!, 'utf8')).toBe(readFileSync(ref.programPath!, 'utf8'));
    expect(resumed.verdict).toEqual(ref.verdict);
  });
});
