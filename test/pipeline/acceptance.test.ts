/**
 * Workflows pipeline_ex's loader refuses (lib/pipeline/config.ex at ff625ec) are refused when
 * loaded for optimization, with the step path, its type and why (issue #10 fact 14).
 */
import { describe, expect, it } from 'vitest';
import {
  checkWorkflowAcceptance,
  loadPipeline,
  PipelineValidationError,
  WorkflowRefusedError,
  type WorkflowAcceptance,
} from '../../src/pipeline/index.js';

const s = (content: string) => ({ type: 'static', content });
const wf = (steps: unknown[], extra: Record<string, unknown> = {}) => ({ workflow: { name: 'w', steps, ...extra } });
const refusal = (v: WorkflowAcceptance) => (v.accepted ? undefined : v.refusal);

describe('checkWorkflowAcceptance: what pipeline_ex refuses', () => {
  it('accepts a workflow pipeline_ex loads', () => {
    expect(checkWorkflowAcceptance(wf([{ name: 'a', type: 'claude', prompt: [s('hi')] }]))).toEqual({ accepted: true });
  });

  it('a plain string prompt: refused with the step path, type and why (config.ex:380-382)', () => {
    const v = checkWorkflowAcceptance(wf([{ name: 'ok', type: 'claude', prompt: [s('x')] }, { name: 'review', type: 'claude_smart', prompt: 'Review {{inputs.code}}' }]));
    expect(v.accepted).toBe(false);
    expect(refusal(v)!.path).toBe('workflow.steps[1].prompt');
    expect(refusal(v)!.type).toBe('claude_smart');
    expect(refusal(v)!.reason).toMatch(/step "review": the prompt is a plain string.*config\.ex:380-382.*would not run on pipeline_ex/);
  });

  it('loading one for optimization throws, naming the path and why', () => {
    const yaml = 'workflow:\n  name: w\n  steps:\n    - name: review\n      type: claude\n      prompt: "Review this"\n';
    let err: unknown;
    try {
      loadPipeline(yaml, 'w.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WorkflowRefusedError);
    expect(err).toBeInstanceOf(PipelineValidationError); // same JSON-RPC error mapping as other invalid pipelines
    expect((err as WorkflowRefusedError).refusal).toMatchObject({ path: 'workflow.steps[0].prompt', type: 'claude' });
    expect((err as Error).message).toMatch(/^invalid pipeline \(w\.yaml\): workflow\.steps\[0\]\.prompt: refused \(it would not run on pipeline_ex\)/);
  });

  it('no workflow root, test_echo, an LLM step without a prompt', () => {
    expect(refusal(checkWorkflowAcceptance({ name: 'x', steps: [] }))).toMatchObject({ path: 'workflow', type: null, reason: expect.stringMatching(/no 'workflow' root/) });
    expect(refusal(checkWorkflowAcceptance(wf([{ name: 'e', type: 'test_echo', value: 1 }])))).toMatchObject({
      path: 'workflow.steps[0].type',
      type: 'test_echo',
      reason: expect.stringMatching(/test-only type/),
    });
    expect(refusal(checkWorkflowAcceptance(wf([{ name: 'chat', type: 'claude_session', session_config: {} }])))).toMatchObject({
      path: 'workflow.steps[0].prompt',
      type: 'claude_session',
      reason: expect.stringMatching(/needs a 'prompt' list/),
    });
  });

  it('the rest of the loader: batch/parallel requirements, parts, references, functions', () => {
    const at = (steps: unknown[], extra?: Record<string, unknown>) => refusal(checkWorkflowAcceptance(wf(steps, extra)))?.path;
    expect(at([{ name: 'b', type: 'claude_batch' }])).toBe('workflow.steps[0].prompt');
    expect(at([{ name: 'b', type: 'claude_batch', tasks: [{ prompt: 'string tasks are fine' }] }])).toBeUndefined();
    expect(at([{ name: 'p', type: 'parallel_claude' }])).toBe('workflow.steps[0].parallel_tasks');
    expect(at([{ name: 'a', type: 'claude', prompt: [{ type: 'file' }] }])).toBe('workflow.steps[0].prompt[0].path');
    expect(at([{ name: 'a', type: 'claude', prompt: [{ type: 'session_context' }] }])).toBe('workflow.steps[0].prompt[0].session_id');
    expect(at([{ name: 'a', type: 'claude', prompt: [{ content: 'no type' }] }])).toBe('workflow.steps[0].prompt[0]');
    expect(at([{ name: 'a', type: 'claude', prompt: [{ type: 'previous_response', step: 'ghost' }] }])).toBe('workflow.steps[0].prompt[0].step');
    expect(at([{ name: 'a', type: 'gemini', prompt: [s('x')], functions: ['f'] }])).toBe('workflow.steps[0].functions[0]');
    expect(at([{ name: 'a', type: 'gemini', prompt: [s('x')], functions: ['f'] }], { gemini_functions: { f: { description: 'd', parameters: {} } } })).toBeUndefined();
    expect(at([{ name: 'a', type: 'claude', prompt: [s('x')], claude_options: { async_streaming: 'yes' } }])).toBe('workflow.steps[0].claude_options.async_streaming');
    expect(at([{ type: 'claude', prompt: [s('x')] }])).toBe('workflow.steps[0].name');
    expect(at([{ name: 'a', prompt: [s('x')] }])).toBe('workflow.steps[0].type');
    expect(at(['not a step'])).toBe('workflow.steps[0]');
    expect(at([{ name: 'a', type: 'claude', prompt: ['not a part'] }])).toBe('workflow.steps[0].prompt[0]');
    const stream = (o: Record<string, unknown>) => at([{ name: 'a', type: 'claude', prompt: [s('x')], claude_options: { async_streaming: true, ...o } }]);
    expect(stream({})).toBeUndefined();
    expect(stream({ stream_handler: 'console', stream_buffer_size: 10 })).toBeUndefined();
    expect(stream({ stream_handler: 'telepathy' })).toBe('workflow.steps[0].claude_options.stream_handler');
    expect(stream({ stream_buffer_size: 0 })).toBe('workflow.steps[0].claude_options.stream_buffer_size');
    const fns = (gemini_functions: unknown) => at([{ name: 'a', type: 'claude', prompt: [s('x')] }], { gemini_functions });
    expect(fns(['f'])).toBe('workflow.gemini_functions');
    expect(fns({ f: { parameters: {} } })).toBe('workflow.gemini_functions.f');
    expect(fns({ f: { description: 'd', parameters: 'p' } })).toBe('workflow.gemini_functions.f');
    expect(at([{ name: 'a', type: 'gemini', prompt: [s('x')], functions: 'f' }])).toBe('workflow.steps[0].functions');
    expect(refusal(checkWorkflowAcceptance({ workflow: { steps: [{ name: 'a', type: 'claude', prompt: [s('x')] }] } }))?.path).toBe('workflow.name');
    expect(refusal(checkWorkflowAcceptance({ workflow: 'text' }))?.path).toBe('workflow');
    expect(refusal(checkWorkflowAcceptance({ workflow: { name: 'w', steps: {} } }))?.path).toBe('workflow.steps');
    expect(at([])).toBe('workflow.steps');
    // The seed's `name` alias of `step` is ours to accept: rendered candidates say `step`.
    expect(at([{ name: 'a', type: 'claude', prompt: [s('x')] }, { name: 'b', type: 'claude', prompt: [{ type: 'previous_response', name: 'a' }] }])).toBeUndefined();
  });

  it('a string prompt inside a loop body or a parallel task would crash PromptBuilder.build when run', () => {
    const loop = refusal(
      checkWorkflowAcceptance(wf([{ name: 'loop', type: 'for_loop', steps: [{ name: 'inner', type: 'gemini', prompt: 'plain' }] }])),
    );
    expect(loop).toMatchObject({ path: 'workflow.steps[0].steps[0].prompt', type: 'gemini', reason: expect.stringMatching(/prompt_builder\.ex/) });
    const task = refusal(checkWorkflowAcceptance(wf([{ name: 'fan', type: 'parallel_claude', parallel_tasks: [{ id: 'x', prompt: 'plain' }] }])));
    expect(task).toMatchObject({ path: 'workflow.steps[0].parallel_tasks[0].prompt', type: 'parallel_claude' });
  });
});
