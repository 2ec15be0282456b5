import { describe, expect, it } from 'vitest';
import {
  candidateId,
  findOptimizablePart,
  parsePipeline,
  renderCandidate,
  renderStepText,
  type PromptPart,
  type StepRendering,
} from '../../src/pipeline/index.js';

const rendering = (over: Partial<StepRendering> = {}): StepRendering => ({
  instructions: 'Find the OTP problems.',
  inputFields: ['code'],
  outputFields: ['findings', 'severity'],
  exampleInputs: { code: 'code' },
  demos: [],
  ...over,
});

const twoStep = () =>
  parsePipeline({
    workflow: {
      name: 'refactoring',
      defaults: { claude_preset: 'development' },
      steps: [
        { name: 'prep', type: 'set_variable', variables: { x: 1 } },
        {
          name: 'analyze',
          type: 'claude_smart',
          prompt: [
            { type: 'file', path: 'guide.md' },
            { type: 'static', content: 'ANALYSIS_PLACEHOLDER' },
            { type: 'static', content: 'Code: {{inputs.code}}' },
          ],
        },
        {
          name: 'plan',
          type: 'claude',
          prompt: [
            { type: 'static', content: 'keep me' },
            { type: 'static', content: 'REFACTORING_PLACEHOLDER', note: 'kept' },
            { type: 'previous_response', step: 'analyze', extract: 'findings' },
          ],
        },
      ],
    },
  });

describe('candidate rendering', () => {
  it('picks the optimizable part: explicit marker, then placeholder, then first static', () => {
    const parts = (xs: PromptPart[]) => findOptimizablePart(xs);
    expect(parts([{ type: 'static', content: 'a' }, { type: 'static', content: 'PLACEHOLDER_FOR_OPTIMIZATION' }])).toBe(1);
    expect(parts([{ type: 'static', content: 'ANALYSIS_PLACEHOLDER' }, { type: 'static', content: 'b', optimize: true }])).toBe(1);
    expect(parts([{ type: 'file', path: 'x' }, { type: 'static', content: 'a' }, { type: 'static', content: 'b' }])).toBe(1);
    expect(parts([{ type: 'file', path: 'x' }])).toBe(-1);
    expect(parts([{ type: 'static', content: 'not a placeholder: PLACEHOLDER' }, { type: 'static', content: 'X' }])).toBe(0);
  });

  it('rewrites only the placeholder part of a list prompt; other parts stay in order; source untouched', () => {
    const config = twoStep();
    const before = JSON.stringify(config);
    const out = renderCandidate(config, {
      analyze: rendering({ outputFields: ['analyze'], demos: [{ code: 'defmodule A do end', analyze: 'fine' }] }),
      plan: rendering({ inputFields: ['code', 'analyze_findings'], outputFields: ['plan', 'risks'], instructions: 'Plan it.' }),
    });
    expect(JSON.stringify(config)).toBe(before);
    const [prep, analyze, plan] = out.workflow.steps as Array<Record<string, unknown>>;
    expect(prep).toEqual(config.workflow.steps[0]);
    const ap = analyze!['prompt'] as Array<Record<string, unknown>>;
    expect(ap[0]).toEqual({ type: 'file', path: 'guide.md' });
    expect(ap[2]).toEqual({ type: 'static', content: 'Code: {{inputs.code}}' });
    const text = ap[1]!['content'] as string;
    expect(text.startsWith('Find the OTP problems.')).toBe(true);
    expect(text).toContain('### Example 1\nInput:\n[[ ## code ## ]]\ndefmodule A do end\nOutput:\nfine');
    // {{inputs.code}} is already in another part: not repeated.
    expect(text).not.toContain('{{inputs.code}}');
    const pp = plan!['prompt'] as Array<Record<string, unknown>>;
    expect(pp[0]).toEqual({ type: 'static', content: 'keep me' });
    expect(pp[1]!['note']).toBe('kept');
    expect(pp[2]).toEqual({ type: 'previous_response', step: 'analyze', extract: 'findings' });
    const planText = pp[1]!['content'] as string;
    expect(planText).toContain('Respond with only a JSON object with the keys "plan", "risks".');
    expect(planText).toContain('### Input\n[[ ## code ## ]]\n{{inputs.code}}');
    expect(planText).not.toContain('{{inputs.analyze_findings}}');
    expect(out.workflow.defaults).toEqual({ claude_preset: 'development' });
  });

  it('honours the explicit `optimize: true` marker and keeps the marker key', () => {
    const config = parsePipeline({
      workflow: {
        name: 'm',
        steps: [
          {
            name: 's',
            type: 'gemini',
            prompt: [
              { type: 'static', content: 'Context you must keep' },
              { type: 'static', content: 'Old instructions', optimize: true },
            ],
          },
        ],
      },
    });
    const out = renderCandidate(config, { s: rendering({ instructions: 'New instructions' }) });
    const parts = out.workflow.steps[0]!.prompt as Array<Record<string, unknown>>;
    expect(parts[0]).toEqual({ type: 'static', content: 'Context you must keep' });
    expect(parts[1]!['optimize']).toBe(true);
    expect(String(parts[1]!['content']).startsWith('New instructions')).toBe(true);
  });

  it('replaces a string prompt (a claude_batch task\'s) whole, keeping templates the instructions still have', () => {
    // pipeline_ex refuses a plain string as a step's prompt, but wraps a batch task's string prompt itself.
    const batch = (prompt: string) => parsePipeline({ workflow: { name: 'm', steps: [{ name: 'b', type: 'claude_batch', tasks: [{ prompt }] }] } });
    const taskPrompt = (c: ReturnType<typeof batch>) => (c.workflow.steps[0]!['tasks'] as Array<{ prompt: unknown }>)[0]!.prompt;
    const config = batch('Review {{inputs.code}} please');
    const kept = renderCandidate(config, { 'b.tasks[0]': rendering({ instructions: 'Review {{inputs.code}} please' }) });
    const keptText = taskPrompt(kept) as string;
    expect(typeof keptText).toBe('string');
    expect(keptText.match(/\{\{inputs\.code\}\}/g)).toHaveLength(1);
    const withRefs = batch('Review {{inputs.code}} given {{ steps.prep.text }} and {{global_vars.style}}');
    // New instructions that dropped the references: they are kept under "### Context".
    expect(taskPrompt(renderCandidate(withRefs, { 'b.tasks[0]': rendering({ instructions: 'Find bugs.' }) }))).toBe(
      'Find bugs.\n\nRespond with only a JSON object with the keys "findings", "severity".\n\n### Input\n[[ ## code ## ]]\n{{inputs.code}}' +
        '\n\n### Context\n{{ steps.prep.text }}\n{{global_vars.style}}',
    );
    const rewritten = renderCandidate(config, { 'b.tasks[0]': rendering({ instructions: 'Find bugs.' }) });
    expect(taskPrompt(rewritten)).toBe(
      'Find bugs.\n\nRespond with only a JSON object with the keys "findings", "severity".\n\n### Input\n[[ ## code ## ]]\n{{inputs.code}}',
    );
  });

  it('formats demos as worked examples and skips demos without inputs or outputs', () => {
    const text = renderStepText(
      rendering({
        demos: [
          { code: 'a', findings: ['x'], severity: 'low', augmented: true },
          { code: 'b' },
          { findings: ['y'] },
          { code: 'c', findings: ['z'] },
        ],
      }),
    );
    expect(text).toContain('### Example 1\nInput:\n[[ ## code ## ]]\na\nOutput:\n{\n  "findings": [\n    "x"\n  ],\n  "severity": "low"\n}');
    expect(text).toContain('### Example 2\nInput:\n[[ ## code ## ]]\nc');
    expect(text).toContain('"severity": "Not supplied for this particular example."');
    expect(text).not.toContain('### Example 3');
    expect(text).not.toContain('augmented');
  });

  it('is deterministic, and the candidate id follows content, not key order', () => {
    const config = twoStep();
    const r = { analyze: rendering({ outputFields: ['analyze'] }) };
    expect(JSON.stringify(renderCandidate(config, r))).toBe(JSON.stringify(renderCandidate(config, r)));
    expect(candidateId({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(candidateId({ b: [1, { d: 3, c: 2 }], a: 1 }));
    expect(candidateId(renderCandidate(config, r))).not.toBe(candidateId(renderCandidate(config, { analyze: rendering({ instructions: 'other', outputFields: ['analyze'] }) })));
  });

  it("rewrites the seed's `name` alias of previous_response to `step`, in place", () => {
    const config = parsePipeline({
      workflow: {
        name: 'seed',
        steps: [
          { name: 'a', type: 'claude_smart', prompt: [{ type: 'static', content: 'ANALYSIS_PLACEHOLDER' }] },
          { name: 'b', type: 'claude_smart', prompt: [{ type: 'static', content: 'REFACTORING_PLACEHOLDER' }, { type: 'previous_response', name: 'a', extract: 'x' }] },
        ],
      },
    });
    const out = renderCandidate(config, {});
    expect((out.workflow.steps[1]!.prompt as PromptPart[])[1]).toEqual({ type: 'previous_response', step: 'a', extract: 'x' });
    expect(Object.keys((out.workflow.steps[1]!.prompt as PromptPart[])[1]!)).toEqual(['type', 'step', 'extract']);
    expect((config.workflow.steps[1]!.prompt as PromptPart[])[1]).toEqual({ type: 'previous_response', name: 'a', extract: 'x' });
  });
});
