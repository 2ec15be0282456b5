import { describe, expect, it } from 'vitest';
import {
  dumpPipeline,
  loadPipeline,
  parsePipeline,
  PipelineValidationError,
  PipelineYamlError,
  previousResponseRefs,
} from '../../src/pipeline/index.js';

const YAML_WITH_UNKNOWN_KEYS = `# comment
workflow:
  name: demo
  version: "2024-01-01"
  custom_top: {keep: me, nested: [1, 2, {deep: true}]}
  defaults:
    claude_preset: analysis
    timeout_seconds: 300
    exotic_default: x
  steps:
    - name: first
      type: claude_smart
      preset: analysis
      vendor_extension: {a: 1}
      prompt:
        - type: static
          content: PLACEHOLDER_FOR_OPTIMIZATION
          weird_part_key: 42
        - type: file
          path: ./x.ex
    - name: second
      type: claude
      prompt:
        - {type: static, content: "Summarise {{steps.first.text}}\\nfor {{inputs.user}}"}
    - name: save
      type: file_ops
      operation: copy
extra_root_key: yes-sir
`;

describe('pipeline model', () => {
  it('keeps unknown keys, their values and key order through a load/save round trip', () => {
    const config = loadPipeline(YAML_WITH_UNKNOWN_KEYS, 'demo.yaml');
    const again = loadPipeline(dumpPipeline(config));
    expect(again).toEqual(config);
    expect(JSON.stringify(again)).toBe(JSON.stringify(config)); // same key order
    const wf = config.workflow as Record<string, unknown>;
    expect(wf['custom_top']).toEqual({ keep: 'me', nested: [1, 2, { deep: true }] });
    expect(Object.keys(wf)).toEqual(['name', 'version', 'custom_top', 'defaults', 'steps']);
    expect((config as Record<string, unknown>)['extra_root_key']).toBe('yes-sir');
    // A date-looking string stays a string (no timestamp resolution), and dumps quoted.
    expect(wf['version']).toBe('2024-01-01');
    expect(dumpPipeline(config)).toContain("version: '2024-01-01'");
    const step0 = config.workflow.steps[0] as Record<string, unknown>;
    expect(step0['vendor_extension']).toEqual({ a: 1 });
    expect((step0['prompt'] as Array<Record<string, unknown>>)[0]!['weird_part_key']).toBe(42);
  });

  it('returns a clone: the caller map is never shared', () => {
    const map = { workflow: { name: 'm', steps: [{ name: 's', type: 'claude', prompt: [{ type: 'static', content: 'hi' }] }] } };
    const config = parsePipeline(map);
    (config.workflow.steps[0] as Record<string, unknown>)['prompt'] = 'changed';
    expect(map.workflow.steps[0]!.prompt).toEqual([{ type: 'static', content: 'hi' }]);
  });

  it('refuses custom YAML tags with a clear error', () => {
    const evil = `workflow:\n  name: x\n  steps:\n    - name: s\n      type: claude\n      prompt: !!js/function "function () { return 1 }"\n`;
    expect(() => loadPipeline(evil, 'evil.yaml')).toThrow(PipelineYamlError);
    expect(() => loadPipeline(evil, 'evil.yaml')).toThrow(/custom YAML tag !!js\/function is not allowed.*line 6/);
    expect(() => loadPipeline('workflow: !ruby/object {}\n')).toThrow(/custom YAML tag !ruby\/object/);
  });

  it('names the path of the bad key', () => {
    const bad = (steps: unknown[]) => () => parsePipeline({ workflow: { name: 'x', steps } });
    const ok = { name: 'a', type: 'claude', prompt: [{ type: 'static', content: 'p' }] };
    expect(bad([ok, { name: 'b', type: 'claude', prompt: [{ type: 'telepathy' }] }])).toThrow(
      /workflow\.steps\[1\]\.prompt\[0\]\.type/,
    );
    expect(bad([ok, { name: 'b', type: 'claude_magic', prompt: 'p' }])).toThrow(/workflow\.steps\[1\]\.type/);
    expect(bad([ok, { name: 'b', type: 'claude' }])).toThrow(/workflow\.steps\[1\]\.prompt: .*a claude step needs a 'prompt' list/);
    expect(bad([ok, { name: 'b', type: 'claude', prompt: [{ type: 'static' }] }])).toThrow(/workflow\.steps\[1\]\.prompt\[0\]\.content/);
    expect(bad([ok, { name: 'b', type: 'claude', prompt: [{ type: 'previous_response', step: 'zzz' }] }])).toThrow(
      /workflow\.steps\[1\]\.prompt\[0\]\.step: .*references non-existent step "zzz"/,
    );
    expect(bad([ok, ok])).toThrow(/workflow\.steps\[1\]\.name: duplicate step name "a"/);
    expect(bad([])).toThrow(/workflow\.steps: .*at least one step/);
    expect(() => parsePipeline({ name: 'x' })).toThrow(/workflow:/);
    try {
      bad([{ name: '', type: 'gemini', prompt: [{ type: 'static', content: 'p' }] }])();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PipelineValidationError);
      expect((err as PipelineValidationError).issues.map((i) => i.path)).toContain('workflow.steps[0].name');
    }
  });

  it('accepts the seed design document\'s `name` alias in previous_response parts', () => {
    const config = parsePipeline({
      workflow: {
        name: 'seed',
        steps: [
          { name: 'analyze_for_refactoring', type: 'claude_smart', prompt: [{ type: 'static', content: 'ANALYSIS_PLACEHOLDER' }] },
          {
            name: 'generate_refactoring_plan',
            type: 'claude_smart',
            prompt: [{ type: 'static', content: 'REFACTORING_PLACEHOLDER' }, { type: 'previous_response', name: 'analyze_for_refactoring' }],
          },
        ],
      },
    });
    expect(previousResponseRefs(config.workflow.steps[1]!)).toEqual([{ step: 'analyze_for_refactoring' }]);
  });
});
