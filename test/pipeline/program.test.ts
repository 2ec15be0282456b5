import { describe, expect, it } from 'vitest';
import { Example, settings, withTrace } from '../../src/dspy/index.js';
import { BootstrapFewShot, loadProgram, saveProgram } from '../../src/optimizers/index.js';
import {
  candidateId,
  loadPipelineFile,
  PipelineConfigError,
  PipelineExecutionError,
  PipelineProgram,
  TrainingDataManager,
  type ExecuteContext,
  type ExecuteResult,
  type PipelineConfig,
  type PipelineExecutor,
  type StepResult,
  withConcurrencyLimit,
} from '../../src/pipeline/index.js';

const REFACTORING = 'examples/refactoring/pipeline.yaml';
const CODE_ANALYSIS = 'examples/code_analysis/pipeline.yaml';

function promptText(config: PipelineConfig, step: string): string {
  const s = config.workflow.steps.find((x) => x.name === step)!;
  return typeof s.prompt === 'string' ? s.prompt : JSON.stringify(s.prompt);
}

/**
 * A fake of the Elixir executor for the refactoring workflow. Step 1 writes an analysis text;
 * step 2 answers correctly (the example's expected plan, as JSON) only when its prompt
 * carries at least one worked example, so zero-shot fails and demos make it pass.
 */
function fakeRefactoringExecutor(answers: Map<string, Record<string, unknown>>) {
  const calls: Array<{ config: PipelineConfig; inputs: Record<string, unknown>; context: ExecuteContext }> = [];
  const executor: PipelineExecutor = async (config, inputs, context) => {
    calls.push({ config, inputs, context });
    const analysis = `analysis of: ${String(inputs['goal'])}`;
    const planPrompt = promptText(config, 'generate_refactoring_plan');
    const expected = answers.get(String(inputs['code']));
    const plan = planPrompt.includes('### Example') && expected ? expected : { plan: ['rewrite everything'], risks: [], verification: [] };
    const steps: Record<string, StepResult> = {
      analyze_for_refactoring: { text: analysis, success: true },
      generate_refactoring_plan: { text: JSON.stringify(plan), success: true },
    };
    return { status: 'ok', steps, output: steps['generate_refactoring_plan']!.text, durationMs: 1 } satisfies ExecuteResult;
  };
  return { executor, calls };
}

async function refactoringData() {
  const examples = await new TrainingDataManager('examples/refactoring/training_data').loadExamples();
  const answers = new Map(examples.map((e) => [String(e.get('code')), e.get<Record<string, unknown>>('expected_output')]));
  return { examples, answers };
}

const planMatches = (example: Example, prediction: { get(k: string): unknown }) =>
  JSON.stringify(prediction.get('plan')) === JSON.stringify(example.get('plan'));

describe('PipelineProgram', () => {
  it('one predictor per LLM step, signatures from the training data and previous_response', async () => {
    const config = await loadPipelineFile(REFACTORING);
    const { examples } = await refactoringData();
    const program = new PipelineProgram(config, { executor: fakeRefactoringExecutor(new Map()).executor, trainset: examples });
    const named = program.namedPredictors();
    expect(named.map(([path]) => path)).toEqual(['analyze_for_refactoring', 'generate_refactoring_plan']);
    expect(program.stepPaths()).toEqual([
      { step: 'analyze_for_refactoring', path: 'analyze_for_refactoring' },
      { step: 'generate_refactoring_plan', path: 'generate_refactoring_plan' },
    ]);
    const [s1, s2] = named.map(([, p]) => p.signature);
    expect(s1!.inputNames).toEqual(['code', 'goal']);
    expect(s1!.outputNames).toEqual(['analyze_for_refactoring']);
    expect(s2!.inputNames).toEqual(['code', 'goal', 'analyze_for_refactoring']);
    expect(s2!.outputNames).toEqual(['plan', 'risks', 'verification']);
    expect(s2!.field('plan')!.type).toBe('list[str]');
    expect(s2!.instructions).toMatch(/^Given the fields `code`, `goal`, `analyze_for_refactoring`/);
    // deepCopy keeps the executor and the step mapping.
    const copy = program.deepCopy();
    expect(copy.stepOfPath('generate_refactoring_plan')).toBe('generate_refactoring_plan');
    expect(copy.namedPredictors()[0]![1]).not.toBe(named[0]![1]);
  });

  it('sanitises step names into paths, honours overrides and the choice of steps', async () => {
    const config = {
      workflow: {
        name: 'w',
        steps: [
          { name: 'first step!', type: 'gemini', prompt: [{ type: 'static', content: 'Look at {{inputs.code}} and describe it.' }] },
          { name: 'forward', type: 'claude', prompt: [{ type: 'static', content: 'X_PLACEHOLDER' }, { type: 'previous_response', step: 'first step!', extract: 'summary.short' }] },
          { name: 'save', type: 'file_ops' },
        ],
      },
    };
    const executor = fakeRefactoringExecutor(new Map()).executor;
    const p = new PipelineProgram(config, { executor, inputKeys: ['code'], outputKeys: ['verdict'] });
    expect(p.stepPaths()).toEqual([
      { step: 'first step!', path: 'first_step_' },
      { step: 'forward', path: 'forward_step' }, // `forward` is a Module method
    ]);
    expect(p.stepPredictor('first step!')!.signature.instructions).toBe('Look at {{inputs.code}} and describe it.');
    expect(p.stepPredictor('forward')!.signature.inputNames).toEqual(['code', 'first_step__summary_short']);
    const only = new PipelineProgram(config, {
      executor,
      steps: ['forward'],
      signatures: { forward: 'code, first_step__summary_short -> verdict: bool, why' },
    });
    expect(only.namedPredictors().map(([n]) => n)).toEqual(['forward_step']);
    expect(only.stepPredictor('forward')!.signature.outputNames).toEqual(['verdict', 'why']);
    expect(() => new PipelineProgram(config, { executor, steps: ['save'] })).toThrow(/not an optimizable LLM step/);
    expect(() => new PipelineProgram(config, { executor, steps: ['nope'] })).toThrow(PipelineConfigError);
    expect(() => new PipelineProgram(config, { executor })).toThrow(/cannot infer its signature/);
    // A step named like an input key: its field gets `_output`, the input keeps its name.
    const clash = new PipelineProgram(
      {
        workflow: {
          name: 'c',
          steps: [
            { name: 'code', type: 'claude', prompt: [{ type: 'static', content: 'Describe {{inputs.code}}' }] },
            { name: 'final', type: 'claude', prompt: [{ type: 'static', content: 'P' }, { type: 'previous_response', step: 'code' }] },
          ],
        },
      },
      { executor, inputKeys: ['code'], outputKeys: ['verdict'] },
    );
    expect(clash.stepPredictor('code')!.signature.outputNames).toEqual(['code_output']);
    expect(clash.stepPredictor('final')!.signature.inputNames).toEqual(['code', 'code_output']);
  });

  it('forward renders the candidate, runs the executor and records a trace entry per step', async () => {
    const config = await loadPipelineFile(REFACTORING);
    const source = JSON.stringify(config);
    const { examples, answers } = await refactoringData();
    const { executor, calls } = fakeRefactoringExecutor(answers);
    const program = new PipelineProgram(config, { executor, trainset: examples, runId: 'run-1' });
    const ex = examples[0]!;
    const { result, trace } = await withTrace(() => program.call(ex));
    expect(JSON.stringify(config)).toBe(source);
    const call = calls[0]!;
    expect(call.inputs).toEqual(ex.inputs().toDict());
    expect(call.context).toEqual({ runId: 'run-1', candidateId: candidateId(call.config), exampleId: candidateId(ex.inputs().toDict()) });
    // A fresh sample asked for by an optimizer reaches the executor.
    const abort = new AbortController();
    await settings.context({ rolloutId: 2, temperature: 1, signal: abort.signal }, () => program.call(ex));
    expect(calls[1]!.context).toMatchObject({ rolloutId: 2, temperature: 1, signal: abort.signal });
    abort.abort();
    await expect(settings.context({ signal: abort.signal }, () => program.call(ex))).rejects.toThrow();
    expect(calls).toHaveLength(2);
    // The rendered config keeps the previous_response part, in place.
    const step2 = call.config.workflow.steps[1]!.prompt as Array<Record<string, unknown>>;
    expect(step2.map((p) => p['type'])).toEqual(['static', 'static', 'previous_response']);
    expect(String(step2[0]!['content'])).toContain('Respond with only a JSON object with the keys "plan", "risks", "verification".');
    expect(trace.map((t) => t.predictor)).toEqual(program.predictors());
    expect(trace[0]!.inputs).toEqual(ex.inputs().toDict());
    expect(trace[0]!.outputs).toEqual({ analyze_for_refactoring: `analysis of: ${String(ex.get('goal'))}` });
    expect(trace[1]!.inputs).toEqual({ ...ex.inputs().toDict(), analyze_for_refactoring: `analysis of: ${String(ex.get('goal'))}` });
    expect(trace[1]!.outputs).toEqual({ plan: ['rewrite everything'], risks: [], verification: [] });
    expect(result.get('plan')).toEqual(['rewrite everything']);
    expect((result.get('pipeline_result') as ExecuteResult).status).toBe('ok');

    const failing = new PipelineProgram(config, {
      executor: async () => ({ status: 'error', steps: {}, output: null, durationMs: 1, error: 'claude timed out' }),
      trainset: examples,
    });
    await expect(failing.call(ex)).rejects.toThrow(PipelineExecutionError);
    await expect(failing.call(ex)).rejects.toThrow(/claude timed out/);
    const broken = new PipelineProgram(config, { executor: async () => ({ status: 'ok' }) as unknown as ExecuteResult, trainset: examples });
    await expect(broken.call(ex)).rejects.toThrow(/invalid result: steps/);
  });

  it('BootstrapFewShot bootstraps demos for each step from the executor traces', async () => {
    const config = await loadPipelineFile(REFACTORING);
    const { examples, answers } = await refactoringData();
    const [trainset, valset] = [examples.slice(0, 8), examples.slice(8, 12)];
    const { executor } = fakeRefactoringExecutor(answers);
    const student = new PipelineProgram(config, { executor, trainset });
    const baseline = await Promise.all(valset.map(async (e) => planMatches(e, await student.call(e))));
    expect(baseline.every((ok) => !ok)).toBe(true);

    const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 3 }).compile(student, {
      trainset,
      metric: planMatches,
      seed: 7,
    });
    const [analyze, plan] = program.predictors();
    const boot1 = analyze!.demos.filter((d) => d.get('augmented') === true);
    const boot2 = plan!.demos.filter((d) => d.get('augmented') === true);
    expect(boot1).toHaveLength(2);
    expect(boot2).toHaveLength(2);
    expect(boot1[0]!.get('analyze_for_refactoring')).toBe(`analysis of: ${String(trainset[0]!.get('goal'))}`);
    expect(boot2[0]!.get('plan')).toEqual(trainset[0]!.get('plan'));
    expect(boot2[0]!.get('analyze_for_refactoring')).toBeDefined();
    // The optimized config carries the demos in both steps' prompts; it now scores on the valset.
    const rendered = program.renderConfig();
    expect(promptText(rendered, 'analyze_for_refactoring')).toContain('### Example 1');
    expect(promptText(rendered, 'generate_refactoring_plan')).toContain('[[ ## analyze_for_refactoring ## ]]');
    const after = await Promise.all(valset.map(async (e) => planMatches(e, await program.call(e))));
    expect(after.every(Boolean)).toBe(true);
    // Saved and loaded into a fresh program, it renders the same config.
    const fresh = new PipelineProgram(config, { executor, trainset });
    loadProgram(fresh, JSON.parse(JSON.stringify(saveProgram(program))));
    expect(fresh.renderConfig()).toEqual(rendered);
  });

  it('executor errors count toward maxErrors', async () => {
    const config = await loadPipelineFile(CODE_ANALYSIS);
    const examples = (await new TrainingDataManager('examples/code_analysis/training_data').loadExamples()).slice(0, 5);
    let calls = 0;
    const student = new PipelineProgram(config, {
      executor: async () => (calls++, { status: 'error', steps: {}, output: null, durationMs: 0, error: 'boom' }),
      trainset: examples,
    });
    expect(student.namedPredictors().map(([n]) => n)).toEqual(['analyze_code']);
    await expect(
      new BootstrapFewShot({ maxBootstrappedDemos: 2, maxErrors: 2 }).compile(student, { trainset: examples, metric: () => true, concurrency: 1 }),
    ).rejects.toThrow(/boom/);
    expect(calls).toBe(2);
  });

  it('withConcurrencyLimit caps executions in flight', async () => {
    let active = 0;
    let peak = 0;
    const slow: PipelineExecutor = async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return { status: 'ok', steps: {}, output: null, durationMs: 5 };
    };
    const limited = withConcurrencyLimit(slow, 2);
    const config = await loadPipelineFile(CODE_ANALYSIS);
    await Promise.all(Array.from({ length: 7 }, () => limited(config, {}, { candidateId: 'c' })));
    expect(peak).toBe(2);
  });
});
