/**
 * A TypeScript stand-in for the Elixir Reference executor (elixir_client's
 * Pipeline.DSPy.Executor.Reference), enough for in-process tests: claude and gemini steps make
 * one LM call with the prompt built the same way (static parts and previous_response values,
 * each followed by a newline, `{{inputs.x}}` substituted, trailing whitespace trimmed); the
 * result's `output` is the last step's text.
 */
import type { LM } from '../../src/lm/types.js';
import type { ExecuteResult, PipelineExecutor, StepResult } from '../../src/pipeline/index.js';

export function referenceExecutor(lm: LM): PipelineExecutor {
  return async (config, inputs) => {
    const steps: Record<string, StepResult> = {};
    let last: string | undefined;
    const sub = (s: string) => s.replace(/\{\{\s*inputs\.(\w+)\s*\}\}/g, (m, k: string) => (k in inputs ? String(inputs[k]) : m));
    for (const step of config.workflow.steps) {
      if (!/^(claude|gemini)/.test(step.type)) continue;
      const prompt =
        typeof step.prompt === 'string'
          ? sub(step.prompt)
          : (step.prompt ?? [])
              .map((part) => {
                if (part.type === 'static') return `${sub(part.content)}\n`;
                if (part.type === 'previous_response') return `${steps[String(part.step)]?.text ?? ''}\n`;
                return '';
              })
              .join('')
              .trimEnd();
      const system = (step.claude_options as { system_prompt?: string } | undefined)?.system_prompt;
      const messages = [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user' as const, content: prompt }];
      const { text } = await lm.generate(messages);
      steps[step.name] = { text, success: true };
      last = text;
    }
    return { status: 'ok', steps, output: last ?? null, durationMs: 0 } satisfies ExecuteResult;
  };
}
