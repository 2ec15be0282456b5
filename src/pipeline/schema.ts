/**
 * zod schema of the pipeline_ex workflow format (shared/NOTES.md §1).
 *
 * Every object is a *loose* object: keys we do not know about are accepted, and because
 * `parsePipeline` validates but hands back (a clone of) the caller's own data rather than
 * zod's output, they also keep their values and their order through a load/save round trip.
 *
 * What is checked: one `workflow` root with a non-empty `name` and a non-empty `steps` list;
 * each step has a `name` (unique among the top-level steps) and a known `type`; the
 * single-prompt LLM steps carry a `prompt`; a prompt is a string or a list of known parts with
 * their required keys; a `previous_response` part names a step that runs before it.
 */
import * as z from 'zod';

/** Step types the pipeline_ex engine dispatches. */
export const STEP_TYPES = [
  'set_variable',
  'claude',
  'gemini',
  'parallel_claude',
  'gemini_instructor',
  'claude_smart',
  'claude_session',
  'claude_extract',
  'claude_batch',
  'claude_robust',
  'for_loop',
  'while_loop',
  'data_transform',
  'file_ops',
  'pipeline',
] as const;
export type StepType = (typeof STEP_TYPES)[number];

/**
 * LLM-backed step types that send one prompt (the step's `prompt`) per execution: these are
 * the steps that become predictors, and the ones that must carry a `prompt`.
 */
export const SINGLE_PROMPT_LLM_TYPES = [
  'claude',
  'gemini',
  'claude_smart',
  'claude_session',
  'claude_extract',
  'claude_robust',
  'gemini_instructor',
] as const;

/**
 * Batch/parallel LLM steps: their prompts live in per-task lists (`tasks`, `parallel_tasks`),
 * each task prompt sent on its own; which of their prompts pipeline_ex sends (and so which are
 * optimized) is in prompts.ts.
 */
export const MULTI_PROMPT_LLM_TYPES = ['claude_batch', 'parallel_claude'] as const;

export const LLM_STEP_TYPES: readonly string[] = [...SINGLE_PROMPT_LLM_TYPES, ...MULTI_PROMPT_LLM_TYPES];

export const PROMPT_PART_TYPES = [
  'static',
  'file',
  'previous_response',
  'session_context',
  'claude_continue',
] as const;

const nonEmpty = z.string().min(1, 'must be a non-empty string');

export const StaticPartSchema = z.looseObject({
  type: z.literal('static'),
  content: z.string(),
  /** Our marker: this static part is the one optimization rewrites. */
  optimize: z.boolean().optional(),
});

export const FilePartSchema = z.looseObject({
  type: z.literal('file'),
  path: nonEmpty,
});

/**
 * `step` is pipeline_ex's key. The seed design document writes `name` instead; we accept it
 * as an alias so its configs load, and treat the two the same everywhere.
 */
export const PreviousResponsePartSchema = z
  .looseObject({
    type: z.literal('previous_response'),
    step: nonEmpty.optional(),
    name: nonEmpty.optional(),
    extract: z.string().optional(),
  })
  .superRefine((part, ctx) => {
    if (part.step === undefined && part.name === undefined) {
      ctx.addIssue({ code: 'custom', path: ['step'], message: 'previous_response needs a `step` (the step whose output it reads)' });
    }
  });

export const SessionContextPartSchema = z.looseObject({ type: z.literal('session_context') });
export const ClaudeContinuePartSchema = z.looseObject({ type: z.literal('claude_continue') });

export const PromptPartSchema = z.discriminatedUnion('type', [
  StaticPartSchema,
  FilePartSchema,
  PreviousResponsePartSchema,
  SessionContextPartSchema,
  ClaudeContinuePartSchema,
]);

export const PromptSchema = z.union([z.string(), z.array(PromptPartSchema)], {
  error: 'must be a string or a list of prompt parts ({type: static | file | previous_response | ...})',
});

export const StepSchema = z
  .looseObject({
    name: nonEmpty,
    type: z.enum(STEP_TYPES),
    prompt: PromptSchema.optional(),
    condition: z.unknown().optional(),
    output_to_file: z.string().optional(),
    preset: z.string().optional(),
    claude_options: z.record(z.string(), z.unknown()).optional(),
    role: z.string().optional(),
  })
  .superRefine((step, ctx) => {
    if ((SINGLE_PROMPT_LLM_TYPES as readonly string[]).includes(step.type) && step.prompt === undefined) {
      ctx.addIssue({ code: 'custom', path: ['prompt'], message: `a ${step.type} step needs a prompt` });
    }
  });

export const WorkflowSchema = z
  .looseObject({
    name: nonEmpty,
    description: z.string().optional(),
    version: z.union([z.string(), z.number()]).optional(),
    workspace_dir: z.string().optional(),
    checkpoint_dir: z.string().optional(),
    checkpoint_enabled: z.boolean().optional(),
    defaults: z.record(z.string(), z.unknown()).optional(),
    global_vars: z.record(z.string(), z.unknown()).optional(),
    steps: z.array(StepSchema).min(1, 'a workflow needs at least one step'),
  })
  .superRefine((wf, ctx) => {
    const seen = new Map<string, number>();
    wf.steps.forEach((step, i) => {
      const first = seen.get(step.name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'name'], message: `duplicate step name "${step.name}" (also steps[${first}])` });
      } else {
        seen.set(step.name, i);
      }
    });
    wf.steps.forEach((step, i) => {
      if (!Array.isArray(step.prompt)) return;
      step.prompt.forEach((part, j) => {
        if (part.type !== 'previous_response') return;
        const ref = (part.step ?? part.name) as string;
        const at = seen.get(ref);
        if (at === undefined || at >= i) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, 'prompt', j, part.step !== undefined ? 'step' : 'name'],
            message: at === undefined ? `refers to unknown step "${ref}"` : `refers to step "${ref}", which does not run before this one`,
          });
        }
      });
    });
  });

export const PipelineSchema = z.looseObject({ workflow: WorkflowSchema });

export type StaticPart = z.infer<typeof StaticPartSchema>;
export type PromptPart = z.infer<typeof PromptPartSchema>;
export type Prompt = z.infer<typeof PromptSchema>;
export type Step = z.infer<typeof StepSchema>;
export type Workflow = z.infer<typeof WorkflowSchema>;
export type PipelineConfig = z.infer<typeof PipelineSchema>;
