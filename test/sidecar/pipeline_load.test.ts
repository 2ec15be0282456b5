import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWorkflowAcceptance } from '../../src/pipeline/acceptance.js';

const pipelineExRefusal = (config: unknown) => {
  const v = checkWorkflowAcceptance(config);
  return v.accepted ? undefined : v.refusal;
};
import { ensureBuilt } from '../support/build.js';
import { SidecarProcess } from '../support/sidecar_process.js';

// `pipeline/load` end to end (real sidecar): what an Elixir app without YAML gets back, and
// the refusals pipeline_ex's own loader makes (lib/pipeline/config.ex at ff625ec).
let sidecar: SidecarProcess;
let dir: string;
let nextId = 1;

async function load(yaml: string | null, path?: string): Promise<{ result?: any; error?: any }> {
  const file = path ?? join(dir, `w${nextId}.yaml`);
  if (yaml !== null) writeFileSync(file, yaml);
  return (await sidecar.request({ jsonrpc: '2.0', id: nextId++, method: 'pipeline/load', params: { path: file } })) as any;
}

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'pipeline-load-'));
  sidecar = new SidecarProcess('packet4', []);
  await sidecar.initialize('1.0');
});

afterAll(async () => {
  await sidecar?.close();
  rmSync(dir, { recursive: true, force: true });
});

const OK = `workflow:
  name: demo
  custom_key: kept
  steps:
    - name: ask
      type: claude
      prompt:
        - type: static
          content: "Hi {{inputs.who}}"
`;

describe('pipeline/load', () => {
  it('returns the workflow map as written, its name, and accepted', async () => {
    const r = await load(OK);
    expect(r.error).toBeUndefined();
    expect(r.result).toEqual({
      config: {
        workflow: {
          name: 'demo',
          custom_key: 'kept',
          steps: [{ name: 'ask', type: 'claude', prompt: [{ type: 'static', content: 'Hi {{inputs.who}}' }] }],
        },
      },
      name: 'demo',
      warnings: [],
      accepted: true,
    });
  });

  it('refuses a plain-string prompt where pipeline_ex does (config.ex:380-382), naming path and type', async () => {
    const r = await load('workflow:\n  name: s\n  steps:\n    - name: a\n      type: gemini\n      prompt: "just text"\n');
    expect(r.result.accepted).toBe(false);
    expect(r.result.refusal).toMatchObject({ path: 'workflow.steps[0].prompt', type: 'gemini' });
    expect(r.result.refusal.reason).toMatch(/plain string/);
    expect(r.result.config.workflow.steps[0].prompt).toBe('just text');
  });

  it('refuses test_echo and a missing workflow root; answers -32012 for a missing file', async () => {
    const echo = await load('workflow:\n  name: t\n  steps:\n    - name: e\n      type: test_echo\n');
    expect(echo.result.refusal).toMatchObject({ path: 'workflow.steps[0].type', type: 'test_echo' });
    const noRoot = await load('name: x\nsteps: []\n');
    expect(noRoot.result).toMatchObject({ accepted: false, name: null, refusal: { path: 'workflow', type: 'workflow' } });
    const missing = await load(null, join(dir, 'nope.yaml'));
    expect(missing.error.code).toBe(-32012);
  });

  it('refuses what pipeline_ex loads but our model cannot (duplicate step names), naming the step', async () => {
    const dup = 'workflow:\n  name: d\n  steps:\n    - name: a\n      type: claude\n      prompt: [{type: static, content: x}]\n    - name: a\n      type: gemini\n      prompt: [{type: static, content: y}]\n';
    const r = await load(dup);
    expect(r.result.accepted).toBe(false);
    expect(r.result.refusal).toMatchObject({ path: 'workflow.steps[1].name', type: 'gemini' });
    expect(r.result.refusal.reason).toMatch(/duplicate step name .*pipeline_ex loads it; this project's model does not/);
  });

  it('warns about a string prompt in a loop body (not checked by pipeline_ex at load)', async () => {
    const r = await load(
      'workflow:\n  name: l\n  steps:\n    - name: loop\n      type: for_loop\n      iterator: x\n      data_source: items\n      steps:\n        - name: in\n          type: claude\n          prompt: "hello"\n',
    );
    expect(r.result.warnings).toEqual([expect.stringContaining('workflow.steps[0].steps[0].prompt is a plain string')]);
    // pipeline_ex loads it but the step crashes when it runs (PromptBuilder has no string clause):
    // refused, saying where and why.
    expect(r.result.accepted).toBe(false);
    expect(r.result.refusal).toMatchObject({ path: 'workflow.steps[0].steps[0].prompt', type: 'claude' });
    expect(r.result.refusal.reason).toMatch(/loop or pipeline body/);
  });
});

describe('checkWorkflowAcceptance (port of Config.validate_workflow)', () => {
  const wf = (steps: unknown[]) => ({ workflow: { name: 'w', steps } });
  it('accepts claude_batch with tasks and no prompt, refuses it with neither (config.ex:323-330)', () => {
    expect(pipelineExRefusal(wf([{ name: 'b', type: 'claude_batch', tasks: [{ prompt: 'x' }] }]))).toBeUndefined();
    expect(pipelineExRefusal(wf([{ name: 'b', type: 'claude_batch' }]))).toMatchObject({ path: 'workflow.steps[0].prompt', type: 'claude_batch' });
  });
  it('refuses parallel_claude without parallel_tasks and session_context without session_id', () => {
    expect(pipelineExRefusal(wf([{ name: 'p', type: 'parallel_claude' }]))?.path).toBe('workflow.steps[0].parallel_tasks');
    const sc = pipelineExRefusal(wf([{ name: 's', type: 'claude_session', prompt: [{ type: 'session_context' }] }]));
    expect(sc).toMatchObject({ path: 'workflow.steps[0].prompt[0].session_id', type: 'claude_session' });
  });
  it('refuses a previous_response naming no top-level step, accepts one that does', () => {
    const prev = (step: string) => [
      { name: 'a', type: 'claude', prompt: [{ type: 'static', content: 'x' }] },
      { name: 'b', type: 'claude', prompt: [{ type: 'previous_response', step }] },
    ];
    expect(pipelineExRefusal(wf(prev('a')))).toBeUndefined();
    expect(pipelineExRefusal(wf(prev('zz')))).toMatchObject({ path: 'workflow.steps[1].prompt[0].step', reason: expect.stringContaining('zz') });
  });
  it('refuses an empty steps list and a missing name', () => {
    expect(pipelineExRefusal({ workflow: { name: 'w', steps: [] } })?.path).toBe('workflow.steps');
    expect(pipelineExRefusal({ workflow: { steps: [{ name: 'a', type: 'set_variable' }] } })?.path).toBe('workflow.name');
  });
});
