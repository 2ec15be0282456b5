import { describe, expect, it } from 'vitest';
import { loadPipelineFile, PipelineProgram, TrainingDataManager, type ExecuteResult } from '../../src/pipeline/index.js';

const noExecutor = async (): Promise<ExecuteResult> => {
  throw new Error('not executed in this test');
};

describe('shipped examples', () => {
  it('code_analysis: a one-step workflow and at least 21 valid examples, including the seed OTP one', async () => {
    const config = await loadPipelineFile('examples/code_analysis/pipeline.yaml');
    const data = new TrainingDataManager('examples/code_analysis/training_data');
    expect(await data.validate()).toMatchObject({ ok: true, problems: [] });
    const records = await data.listExamples();
    expect(records.length).toBeGreaterThanOrEqual(21);
    expect(records.some((r) => String(r.input['code']).includes('Agent.start_link(fn -> %{} end)'))).toBe(true);
    for (const r of records) {
      expect(Object.keys(r.input).sort()).toEqual(['analysis_type', 'code']);
      expect(Object.keys(r.expected_output)).toEqual(['findings', 'recommendations', 'severity']);
    }
    const program = new PipelineProgram(config, { executor: noExecutor, trainset: await data.loadExamples() });
    expect(program.namedPredictors().map(([n]) => n)).toEqual(['analyze_code']);
    const rendered = program.renderConfig();
    const parts = rendered.workflow.steps[0]!.prompt as Array<{ type: string; content: string }>;
    expect(parts[0]!.content).not.toContain('PLACEHOLDER');
    expect(parts[1]!.content).toContain('{{inputs.code}}');
  });

  it('refactoring: two steps, the second reading the first, and at least 21 valid examples', async () => {
    const config = await loadPipelineFile('examples/refactoring/pipeline.yaml');
    expect(config.workflow.steps.map((s) => s.name)).toEqual(['analyze_for_refactoring', 'generate_refactoring_plan']);
    const data = new TrainingDataManager('examples/refactoring/training_data');
    expect(await data.validate()).toMatchObject({ ok: true, problems: [] });
    const records = await data.listExamples();
    expect(records.length).toBeGreaterThanOrEqual(21);
    for (const r of records) expect(Object.keys(r.expected_output)).toEqual(['plan', 'risks', 'verification']);
  });
});
