/**
 * Optimizable prompts are exactly the prompts pipeline_ex sends (issue #10 item 4): LLM steps in
 * loop and inline pipeline bodies, claude_batch / parallel_claude task prompts; never the
 * step-level prompt pipeline_ex ignores. Traces come from the executor's `calls`.
 */
import { describe, expect, it } from 'vitest';
import { Example, withTrace } from '../../src/dspy/index.js';
import { BootstrapFewShot, loadProgram, saveProgram } from '../../src/optimizers/index.js';
import {
  dumpPipeline,
  isOptimizableStep,
  parsePipeline,
  PipelineConfigError,
  PipelineProgram,
  promptSites,
  renderCandidate,
  type ExecuteResult,
  type PipelineConfig,
  type PipelineExecutor,
  type StepRendering,
} from '../../src/pipeline/index.js';

const s = (content: string) => ({ type: 'static', content });

const WORKFLOW = {
  workflow: {
    name: 'nested',
    steps: [
      { name: 'intro', type: 'claude', prompt: [s('Introduce {{inputs.topic}}')] },
      {
        name: 'review_loop',
        type: 'for_loop',
        iterator: 'item',
        data_source: 'inputs.items',
        steps: [
          { name: 'analyze', type: 'gemini', prompt: [s('ANALYZE_PLACEHOLDER'), { type: 'previous_response', step: 'intro' }] },
          { name: 'note', type: 'set_variable', variables: { x: 1 } },
          {
            name: 'inner',
            type: 'while_loop',
            condition: 'state.more',
            steps: [{ name: 'deep', type: 'claude_smart', prompt: [s('Go deeper'), { type: 'previous_response', step: 'analyze' }] }],
          },
          { name: 'sub_pipeline_in_loop', type: 'pipeline', pipeline: { steps: [{ name: 'never', type: 'claude', prompt: [s('never run')] }] } },
        ],
      },
      {
        name: 'sub',
        type: 'pipeline',
        pipeline: { name: 'inline', steps: [{ name: 'summarize', type: 'claude', prompt: [s('Summarize')] }] },
      },
      { name: 'external', type: 'pipeline', pipeline_file: './other.yaml' },
      {
        name: 'batch',
        type: 'claude_batch',
        prompt: [s('STEP LEVEL: pipeline_ex never sends this')],
        tasks: [
          { task_id: 'a', prompt: [s('Task A')] },
          { id: 'b2', prompt: 'Task B as a string' },
          { task_id: 'c', file: 'lib/x.ex' },
        ],
      },
      {
        name: 'fanout',
        type: 'parallel_claude',
        prompt: [s('never sent either')],
        parallel_tasks: [
          { id: 'security', prompt: [s('Check security')] },
          { id: 'perf', prompt: [s('Check performance')] },
        ],
      },
      { name: 'final', type: 'claude', prompt: [s('FINAL_PLACEHOLDER'), { type: 'previous_response', step: 'intro' }] },
    ],
  },
};

const PATHS = [
  'intro',
  'review_loop.steps.analyze',
  'review_loop.steps.inner.steps.deep',
  'sub.steps.summarize',
  'batch.tasks[0]',
  'batch.tasks[b2]',
  'fanout.parallel_tasks[security]',
  'fanout.parallel_tasks[perf]',
  'final',
];

const ok = (steps: ExecuteResult['steps'], extra: Partial<ExecuteResult> = {}): ExecuteResult => ({ status: 'ok', steps, output: null, durationMs: 1, ...extra });

function program(executor: PipelineExecutor, options: Partial<ConstructorParameters<typeof PipelineProgram>[1]> = {}) {
  return new PipelineProgram(WORKFLOW, { executor, inputKeys: ['topic'], outputKeys: ['answer'], ...options });
}

describe('prompt sites: what pipeline_ex sends', () => {
  it('finds nested, task and top-level prompts; not pipeline_file, not the step-level batch/parallel prompt, not a pipeline inside a loop', () => {
    const config = parsePipeline(WORKFLOW);
    expect(promptSites(config).map((site) => site.path)).toEqual(PATHS);
    expect(isOptimizableStep(config.workflow.steps[4]!)).toBe(false); // batch: tasks carry the prompts
    expect(isOptimizableStep(config.workflow.steps[5]!)).toBe(false); // parallel_claude
  });

  it('a claude_batch step-level prompt is a site exactly when pipeline_ex sends it', () => {
    const batch = (extra: Record<string, unknown>) =>
      promptSites(parsePipeline({ workflow: { name: 'b', steps: [{ name: 'b', type: 'claude_batch', prompt: [s('P')], ...extra }] } })).map((x) => x.path);
    expect(batch({})).toEqual(['b']); // no tasks: sent as the single default task
    expect(batch({ tasks: [{ prompt: [s('T')] }] })).toEqual(['b.tasks[0]']);
    expect(batch({ tasks: [{ prompt: [s('T')] }, { note: 'no prompt, no file' }] })).toEqual(['b.tasks[0]', 'b']); // sent after "Task context"
  });

  it('one predictor per site, at the paths the executors report, in workflow order', () => {
    const p = program(async () => ok({}));
    expect(p.namedPredictors().map(([path]) => path)).toEqual(PATHS);
    expect(p.stepPredictor('review_loop.steps.analyze')!.signature.inputNames).toEqual(['topic', 'intro']);
    expect(p.stepPredictor('review_loop.steps.inner.steps.deep')!.signature.inputNames).toEqual(['topic', 'analyze']);
    expect(p.stepPredictor('batch.tasks[b2]')!.signature.instructions).toBe('Task B as a string');
    expect(p.stepPredictor('final')!.signature.outputNames).toEqual(['answer']);
  });

  it('sharedTaskPredictor: one predictor per task list, only for tasks with the same text', () => {
    const same = {
      workflow: {
        name: 'w',
        steps: [{ name: 'fan', type: 'parallel_claude', parallel_tasks: [{ id: 'x', prompt: [s('Same {{inputs.topic}}')] }, { id: 'y', prompt: [s('Same {{inputs.topic}}')] }] }],
      },
    };
    const exec = async () => ok({});
    const shared = new PipelineProgram(same, { executor: exec, inputKeys: ['topic'], outputKeys: ['answer'], sharedTaskPredictor: true });
    expect(shared.namedPredictors().map(([path]) => path)).toEqual(['fan.parallel_tasks']);
    const tasks = shared.renderConfig().workflow.steps[0]!['parallel_tasks'] as Array<{ prompt: Array<{ content: string }> }>;
    expect(tasks.map((t) => t.prompt[0]!.content)).toEqual(['Same {{inputs.topic}}', 'Same {{inputs.topic}}']);
    expect(() => program(exec, { sharedTaskPredictor: true })).toThrow(/sharedTaskPredictor: the tasks of "batch.tasks" have different prompt texts/);
  });

  it('rendering rewrites the nested prompts and leaves every other byte as it was', () => {
    const config = parsePipeline(WORKFLOW);
    const r = (instructions: string): StepRendering => ({ instructions, inputFields: ['topic'], outputFields: ['out'], exampleInputs: { topic: 'topic' }, demos: [] });
    const renderings = Object.fromEntries(PATHS.map((path) => [path, r(`NEW ${path}`)]));
    const out = renderCandidate(config, renderings);
    const loop = out.workflow.steps[1]!['steps'] as Array<{ prompt: Array<{ content: string }> }>;
    expect(loop[0]!.prompt[0]!.content.startsWith('NEW review_loop.steps.analyze')).toBe(true);
    const batch = out.workflow.steps[4]!;
    expect((batch['prompt'] as Array<{ content: string }>)[0]!.content).toBe('STEP LEVEL: pipeline_ex never sends this');
    expect((batch['tasks'] as Array<{ prompt: unknown }>)[1]!.prompt).toMatch(/^NEW batch\.tasks\[b2\]/);
    const inLoopPipeline = (loop[3] as unknown as { pipeline: { steps: Array<{ prompt: Array<{ content: string }> }> } }).pipeline.steps[0]!;
    expect(inLoopPipeline.prompt[0]!.content).toBe('never run');
    // Put each rendered part back: the whole config is byte-identical to the source.
    const restore = structuredClone(out) as PipelineConfig;
    for (const site of promptSites(restore)) {
      const original = promptSites(config).find((o) => o.path === site.path)!;
      const holder = site.at.reduce<Record<string | number, unknown>>((cur, k) => cur[k] as Record<string | number, unknown>, restore as unknown as Record<string, unknown>);
      holder['prompt'] = structuredClone(original.prompt);
    }
    expect(dumpPipeline(restore)).toBe(dumpPipeline(config));
    expect(JSON.stringify(config)).toBe(JSON.stringify(parsePipeline(WORKFLOW))); // source untouched
  });
});

describe('traces from calls', () => {
  const loopWorkflow = {
    workflow: {
      name: 'loop',
      steps: [
        { name: 'intro', type: 'claude', prompt: [s('Introduce {{inputs.topic}}')] },
        {
          name: 'review_loop',
          type: 'for_loop',
          steps: [{ name: 'analyze', type: 'claude', prompt: [s('Analyze'), { type: 'previous_response', step: 'intro' }] }],
        },
        { name: 'final', type: 'claude', prompt: [s('Answer'), { type: 'previous_response', step: 'intro' }] },
      ],
    },
  };

  it('one entry per call with the path, as DSPy records each call; skipped and failed calls are not entries', async () => {
    const result = ok(
      { intro: { success: true, text: 'hello' }, review_loop: { success: true, output: {} }, final: { success: true, text: '{"answer": "42"}' } },
      {
        order: ['intro', 'review_loop', 'final'],
        calls: [
          { path: 'intro', success: true, text: 'hello' },
          { path: 'review_loop.steps.analyze', success: true, text: 'first', iteration: 0 },
          { path: 'review_loop.steps.analyze', success: true, text: 'second', iteration: 1 },
          { path: 'review_loop.steps.analyze', success: true, skipped: true, iteration: 2 },
          { path: 'review_loop.steps.analyze', success: false, iteration: 3 },
          { path: 'review_loop.steps.analyze', success: true, text: 'third', iteration: 4 },
          { path: 'final', success: true, text: '{"answer": "42"}' },
        ],
      },
    );
    const p = new PipelineProgram(loopWorkflow, { executor: async () => result, inputKeys: ['topic'], outputKeys: ['answer'] });
    const { trace, result: prediction } = await withTrace(() => p.call(new Example({ topic: 'cats' }, ['topic'])));
    const analyze = p.stepPredictor('review_loop.steps.analyze')!;
    const entries = trace.filter((e) => e.predictor === analyze);
    expect(entries.map((e) => e.outputs)).toEqual([{ analyze: 'first' }, { analyze: 'second' }, { analyze: 'third' }]);
    expect(entries[0]!.inputs).toEqual({ topic: 'cats', intro: 'hello' });
    expect(trace.map((e) => p.namedPredictors().find(([, x]) => x === e.predictor)![0])).toEqual([
      'intro',
      'review_loop.steps.analyze',
      'review_loop.steps.analyze',
      'review_loop.steps.analyze',
      'final',
    ]);
    expect(prediction.get('answer')).toBe('42');
  });

  it("a body step reading its sibling gets that iteration's value (the latest call before it)", async () => {
    const wf = {
      workflow: {
        name: 'pairs',
        steps: [
          {
            name: 'l',
            type: 'while_loop',
            steps: [
              { name: 'draft', type: 'claude', prompt: [s('Draft')] },
              { name: 'critique', type: 'claude', prompt: [s('Critique'), { type: 'previous_response', step: 'draft' }] },
            ],
          },
        ],
      },
    };
    const result = ok(
      { l: { success: true, output: {} } },
      {
        calls: [
          { path: 'l.steps.draft', success: true, text: 'd0', iteration: 0 },
          { path: 'l.steps.critique', success: true, text: 'c0', iteration: 0 },
          { path: 'l.steps.draft', success: true, text: 'd1', iteration: 1 },
          { path: 'l.steps.critique', success: true, text: 'c1', iteration: 1 },
        ],
      },
    );
    const p = new PipelineProgram(wf, { executor: async () => result, inputKeys: ['q'], outputKeys: ['answer'] });
    const critique = p.stepPredictor('l.steps.critique')!;
    expect(critique.signature.inputNames).toEqual(['q', 'draft']);
    // No top-level LLM step: the last prompt of the workflow produces the expected-output keys.
    expect(critique.signature.outputNames).toEqual(['answer']);
    const { trace } = await withTrace(() => p.call({ q: 'x' }));
    expect(trace.filter((e) => e.predictor === critique).map((e) => [e.inputs['draft'], e.outputs['answer']])).toEqual([
      ['d0', 'c0'],
      ['d1', 'c1'],
    ]);
  });

  it('batch and parallel tasks are traced to their own predictors from their call paths', async () => {
    const result = ok(
      { batch: { success: true, output: { batch_processed: true } } },
      {
        calls: [
          { path: 'fanout.parallel_tasks[perf]', success: true, text: 'fast enough' },
          { path: 'batch.tasks[b2]', success: true, text: 'B done' },
          { path: 'batch', success: true, text: 'no such predictor: the step-level prompt is never sent' },
        ],
      },
    );
    const p = program(async () => result);
    const { trace } = await withTrace(() => p.call({ topic: 't' }));
    expect(trace.map((e) => [p.namedPredictors().find(([, x]) => x === e.predictor)![0], e.outputs])).toEqual([
      ['fanout.parallel_tasks[perf]', { fanout_perf: 'fast enough' }],
      ['batch.tasks[b2]', { batch_b2: 'B done' }],
    ]);
  });

  it('without `calls` (older executors) top-level step results are the trace; skipped steps are not', async () => {
    const result = ok({
      intro: { success: true, text: 'hello' },
      final: { success: true, skipped: true, reason: 'condition false' },
    });
    const p = new PipelineProgram(loopWorkflow, { executor: async () => result, inputKeys: ['topic'], outputKeys: ['answer'] });
    const { trace } = await withTrace(() => p.call({ topic: 'cats' }));
    expect(trace.map((e) => e.predictor)).toEqual([p.stepPredictor('intro')]);
  });
});

describe("the pipeline's output is the last step run (fact 4)", () => {
  const wf = {
    workflow: {
      name: 'out',
      steps: [
        { name: 'zeta_draft', type: 'claude', prompt: [s('Draft')] },
        { name: 'alpha_refine', type: 'claude', prompt: [s('Refine'), { type: 'previous_response', step: 'zeta_draft' }], condition: 'inputs.refine' },
        { name: 'beta_format', type: 'data_transform', input_source: 'alpha_refine' },
      ],
    },
  };
  const answerOf = async (result: ExecuteResult) =>
    (await new PipelineProgram(wf, { executor: async () => result, inputKeys: ['q'], outputKeys: ['answer'] }).call({ q: 'x' })).get('answer');

  it('with `order`: its last step that ran, whatever the names sort to', async () => {
    const steps = {
      zeta_draft: { success: true, text: '{"answer": "draft"}' },
      alpha_refine: { success: true, skipped: true, reason: 'condition false' },
      beta_format: { success: true, output: { answer: 'formatted' } },
    };
    expect(await answerOf(ok(steps, { order: ['zeta_draft', 'alpha_refine', 'beta_format'] }))).toBe('formatted');
    expect(await answerOf(ok(steps, { order: ['zeta_draft', 'alpha_refine'] }))).toBe('draft'); // a skipped step is not "run"
  });

  it('without `order`: the last step in workflow order with a result that was not skipped', async () => {
    const steps = {
      zeta_draft: { success: true, text: '{"answer": "draft"}' },
      alpha_refine: { success: true, skipped: true, reason: 'condition false' },
    };
    expect(await answerOf(ok(steps))).toBe('draft');
    expect(await answerOf(ok({ ...steps, beta_format: { success: true, output: { answer: 'formatted' } } }))).toBe('formatted');
  });

  it('an explicit finalStep is still honoured', async () => {
    const result = ok({ zeta_draft: { success: true, text: '{"answer": "draft"}' }, beta_format: { success: true, output: { answer: 'formatted' } } });
    const p = new PipelineProgram(wf, { executor: async () => result, inputKeys: ['q'], outputKeys: ['answer'], finalStep: 'zeta_draft' });
    expect((await p.call({ q: 'x' })).get('answer')).toBe('draft');
  });
});

describe('step names that look like the wire shape (fact 3)', () => {
  it('steps named output, status and steps are steps like any other', async () => {
    const wf = {
      workflow: {
        name: 'wire_names',
        steps: [
          { name: 'status', type: 'claude', prompt: [s('Status?')] },
          { name: 'steps', type: 'claude', prompt: [s('Steps?'), { type: 'previous_response', step: 'status' }] },
          { name: 'output', type: 'claude', prompt: [s('Output?'), { type: 'previous_response', step: 'steps' }] },
        ],
      },
    };
    const result = ok(
      { status: { success: true, text: 'green' }, steps: { success: true, text: 'three' }, output: { success: true, text: '{"answer": "done"}' } },
      { order: ['status', 'steps', 'output'] },
    );
    const p = new PipelineProgram(wf, { executor: async () => result, inputKeys: ['q'], outputKeys: ['answer'] });
    expect(p.namedPredictors().map(([path]) => path)).toEqual(['status', 'steps', 'output']);
    const { trace, result: prediction } = await withTrace(() => p.call({ q: 'x' }));
    expect(trace.map((e) => e.outputs)).toEqual([{ status: 'green' }, { steps: 'three' }, { answer: 'done' }]);
    expect(prediction.get('answer')).toBe('done');
  });
});

describe('choosing prompts', () => {
  it('`steps` takes prompt paths; a non-LLM step or unknown path is refused', () => {
    const exec = async () => ok({});
    const p = program(exec, { steps: ['review_loop.steps.analyze', 'batch.tasks[0]'] });
    expect(p.namedPredictors().map(([path]) => path)).toEqual(['review_loop.steps.analyze', 'batch.tasks[0]']);
    expect(p.renderConfig().workflow.steps[0]!.prompt).toEqual([s('Introduce {{inputs.topic}}')]); // not chosen: untouched
    expect(() => program(exec, { steps: ['review_loop'] })).toThrow(/not an optimizable LLM step/);
    expect(() => program(exec, { steps: ['batch'] })).toThrow(/not an optimizable LLM step/);
    expect(() => program(exec, { steps: ['external.steps.x'] })).toThrow(PipelineConfigError);
  });
});

describe('optimizing a loop body prompt end to end', () => {
  it('BootstrapFewShot turns each loop call into demos for the nested predictor; the candidate carries them; save/load keeps them', async () => {
    const wf = {
      workflow: {
        name: 'loop_e2e',
        steps: [
          {
            name: 'review_loop',
            type: 'for_loop',
            iterator: 'item',
            data_source: 'inputs.items',
            steps: [{ name: 'analyze', type: 'claude', prompt: [s('ANALYZE_PLACEHOLDER'), s('Item: {{loop.item}}')] }],
          },
          { name: 'final', type: 'claude', prompt: [s('Sum up {{inputs.topic}}')] },
        ],
      },
    };
    const seen: PipelineConfig[] = [];
    // Two loop iterations per run; the final answer is right whenever the loop body prompt
    // carries a worked example (demos), so bootstrapping has something to make a difference.
    const executor: PipelineExecutor = async (config, inputs) => {
      seen.push(config);
      const body = (config.workflow.steps[0]!['steps'] as Array<{ prompt: Array<{ content: string }> }>)[0]!.prompt[0]!.content;
      const answer = body.includes('### Example') || String(inputs['topic']).startsWith('t') ? `A:${String(inputs['topic'])}` : 'wrong';
      return ok(
        { review_loop: { success: true, output: {} }, final: { success: true, text: answer } },
        {
          order: ['review_loop', 'final'],
          calls: [
            { path: 'review_loop.steps.analyze', success: true, text: `look at 1 of ${String(inputs['topic'])}`, iteration: 0 },
            { path: 'review_loop.steps.analyze', success: true, text: `look at 2 of ${String(inputs['topic'])}`, iteration: 1 },
            { path: 'final', success: true, text: answer },
          ],
        },
      );
    };
    const trainset = ['t1', 't2', 't3'].map((t) => new Example({ topic: t, answer: `A:${t}` }, ['topic']));
    const student = new PipelineProgram(wf, { executor, trainset });
    expect(student.namedPredictors().map(([p]) => p)).toEqual(['review_loop.steps.analyze', 'final']);
    const metric = (e: Example, p: { get(k: string): unknown }) => p.get('answer') === e.get('answer');
    expect(await metric(new Example({ topic: 'x', answer: 'A:x' }, ['topic']), await student.call({ topic: 'x' }))).toBe(false);

    const { program } = await new BootstrapFewShot({ maxBootstrappedDemos: 1, maxLabeledDemos: 0 }).compile(student, { trainset, metric, seed: 1 });
    const nested = program.stepPredictor('review_loop.steps.analyze')!;
    // One successful example, two calls of the loop body in its trace: as DSPy does with several
    // calls of one predictor, one of them becomes the demo.
    expect(nested.demos).toHaveLength(1);
    expect(['look at 1 of t1', 'look at 2 of t1']).toContain(nested.demos[0]!.get('analyze'));
    const rendered = program.renderConfig();
    const body = (rendered.workflow.steps[0]!['steps'] as Array<{ prompt: Array<{ content: string }> }>)[0]!.prompt;
    expect(body[0]!.content).toContain('### Example 1');
    expect(body[1]).toEqual(s('Item: {{loop.item}}'));
    expect((await program.call({ topic: 'x' })).get('answer')).toBe('A:x');
    const fresh = new PipelineProgram(wf, { executor, trainset });
    loadProgram(fresh, JSON.parse(JSON.stringify(saveProgram(program))));
    expect(fresh.renderConfig()).toEqual(rendered);
  });
});

describe('prompts that could not be told apart', () => {
  it('two tasks with one id, or two body steps with one name, are refused by path', () => {
    const exec = async () => ok({});
    const twin = { workflow: { name: 'w', steps: [{ name: 'fan', type: 'parallel_claude', parallel_tasks: [{ id: 'x', prompt: [s('A')] }, { id: 'x', prompt: [s('B')] }] }] } };
    expect(() => new PipelineProgram(twin, { executor: exec, inputKeys: ['q'], outputKeys: ['a'] })).toThrow(/two prompts have the path "fan\.parallel_tasks\[x\]"/);
    const body = { workflow: { name: 'w', steps: [{ name: 'l', type: 'for_loop', steps: [{ name: 'a', type: 'claude', prompt: [s('A')] }, { name: 'a', type: 'claude', prompt: [s('B')] }] }] } };
    expect(() => new PipelineProgram(body, { executor: exec, inputKeys: ['q'], outputKeys: ['a'] })).toThrow(/two prompts have the path "l\.steps\.a"/);
  });
});
