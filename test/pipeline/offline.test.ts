import { describe, expect, it } from 'vitest';
import { Example, type Metric } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { BootstrapFewShot, metricToNumber } from '../../src/optimizers/index.js';
import {
  answerFromDemos,
  getMetric,
  loadPipelineFile,
  parseRenderedPrompt,
  PipelineDemoLM,
  PipelineProgram,
  renderStepText,
  TrainingDataManager,
} from '../../src/pipeline/index.js';
import { referenceExecutor } from './helpers.js';

describe('offline answers from rendered demos', () => {
  it('parses a rendered prompt back into demos and current inputs', () => {
    const text = renderStepText({
      instructions: 'Analyse.',
      inputFields: ['code', 'analysis_type'],
      outputFields: ['findings', 'severity'],
      exampleInputs: { code: 'code', analysis_type: 'analysis_type' },
      demos: [
        { code: 'defmodule A do\nend', analysis_type: 'otp', findings: ['a {x}'], severity: 'low' },
        { code: 'defmodule B do\nend', analysis_type: 'perf', findings: ['b'], severity: 'high' },
      ],
    });
    const filled = text.replace('{{inputs.code}}', 'defmodule B do\nend').replace('{{inputs.analysis_type}}', 'perf');
    const parsed = parseRenderedPrompt(filled);
    expect(parsed.examples).toHaveLength(2);
    expect(parsed.examples[0]!.inputs).toEqual({ code: 'defmodule A do\nend', analysis_type: 'otp' });
    expect(JSON.parse(parsed.examples[0]!.output)).toEqual({ findings: ['a {x}'], severity: 'low' });
    expect(parsed.inputs).toEqual({ code: 'defmodule B do\nend', analysis_type: 'perf' });
    expect(JSON.parse(answerFromDemos(filled)!)).toEqual({ findings: ['b'], severity: 'high' });
    expect(answerFromDemos('Analyse.\n\n### Input\n[[ ## code ## ]]\nx')).toBeUndefined();
  });

  it('offline BootstrapFewShot on the code-analysis example: demos teach the offline LM the output format', async () => {
    // Offline answers are other examples' outputs: they show the machinery (demos bootstrapped
    // from real traces change what the executed pipeline answers), not analysis quality.
    const config = await loadPipelineFile('examples/code_analysis/pipeline.yaml');
    const examples = await new TrainingDataManager('examples/code_analysis/training_data').loadExamples();
    const [trainset, valset] = [examples.slice(0, 12), examples.slice(12)];
    const lm = new PipelineDemoLM(new DummyLM());
    const student = new PipelineProgram(config, { executor: referenceExecutor(lm), trainset });
    const metric: Metric = getMetric('valid_json', { requiredKeys: ['findings', 'recommendations', 'severity'] });
    const score = async (program: PipelineProgram, set: Example[]) => {
      let total = 0;
      for (const e of set) total += metricToNumber(await metric(e, await program.call(e)));
      return total / set.length;
    };
    expect(await score(student, valset)).toBe(0);
    const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 4 }).compile(student, { trainset, metric, seed: 1 });
    const demos = program.predictors()[0]!.demos;
    expect(demos.filter((d) => d.get('augmented') === true)).toHaveLength(2);
    expect(demos).toHaveLength(4);
    expect(await score(program, valset)).toBe(1);
  });
});
