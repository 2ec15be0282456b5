/**
 * The pipeline model: a validated pipeline_ex config and the questions the rest of the library
 * asks of it (which steps are LLM steps, what each step reads from earlier steps).
 *
 * `parsePipeline` validates with the zod schema but returns a deep clone of the caller's data,
 * not zod's output: unknown keys, their values and the key order survive untouched, and the
 * caller's object is never shared with (or mutated by) anything downstream.
 */
import { readFile } from 'node:fs/promises';
import { assertAcceptedByPipelineEx } from './acceptance.js';
import { formatPath, PipelineValidationError } from './errors.js';
import type { ExecuteResult } from './executor.js';
import { promptSites } from './prompts.js';
import {
  LLM_STEP_TYPES,
  PipelineSchema,
  type PipelineConfig,
  type PromptPart,
  type Step,
} from './schema.js';
import { dumpYaml, loadYaml } from './yaml.js';

export type { PipelineConfig, Step, PromptPart, Prompt, Workflow, StaticPart } from './schema.js';

interface RawIssue {
  code?: string;
  path: PropertyKey[];
  message: string;
  errors?: RawIssue[][];
}

/**
 * A union's "Invalid input" says nothing useful (a prompt is a string *or* a list): report the
 * issues of the branch that got furthest (the deepest path) instead, with the full path.
 */
function flattenIssues(issues: readonly RawIssue[], base: PropertyKey[] = []): Array<{ path: PropertyKey[]; message: string }> {
  const out: Array<{ path: PropertyKey[]; message: string }> = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors && issue.errors.length > 0) {
      const depth = (branch: RawIssue[]) => Math.max(...branch.map((i) => i.path.length));
      const best = [...issue.errors].filter((b) => b.length > 0).sort((a, b) => depth(b) - depth(a))[0];
      if (best && depth(best) > 0) {
        out.push(...flattenIssues(best, path));
        continue;
      }
    }
    out.push({ path, message: issue.message });
  }
  return out;
}

/**
 * Validate a pipeline map; returns a deep clone. Throws `WorkflowRefusedError` (a
 * `PipelineValidationError` with `refusal: {path, type, reason}`) when pipeline_ex itself would
 * refuse the workflow (acceptance.ts: a plain string prompt, no `workflow:` root, `test_echo`,
 * an LLM step without a prompt, ...), else `PipelineValidationError` for what our schema refuses.
 */
export function parsePipeline(input: unknown, source?: string): PipelineConfig {
  assertAcceptedByPipelineEx(input, source);
  const result = PipelineSchema.safeParse(input);
  if (!result.success) {
    throw new PipelineValidationError(
      flattenIssues(result.error.issues as unknown as RawIssue[]).map((i) => ({ path: formatPath(i.path), message: i.message })),
      source,
    );
  }
  return structuredClone(input) as PipelineConfig;
}

/** Load a pipeline from YAML text or from an already-decoded map. */
export function loadPipeline(input: string | Record<string, unknown>, source?: string): PipelineConfig {
  return parsePipeline(typeof input === 'string' ? loadYaml(input, source) : input, source);
}

export async function loadPipelineFile(path: string): Promise<PipelineConfig> {
  return loadPipeline(await readFile(path, 'utf8'), path);
}

/** YAML text of a config, key order and content preserved. */
export function dumpPipeline(config: PipelineConfig): string {
  return dumpYaml(config);
}

export function isLlmStep(step: Step): boolean {
  return LLM_STEP_TYPES.includes(step.type);
}

/**
 * Whether the top-level step's own `prompt` is one pipeline_ex sends (prompts.ts): a
 * single-prompt LLM step with a list prompt, or a claude_batch whose step-level prompt is sent
 * (no tasks, or a task with neither `prompt` nor `file`). Prompts inside loop and pipeline
 * bodies and batch/parallel task prompts are optimizable too: see `promptSites`.
 */
export function isOptimizableStep(step: Step): boolean {
  return promptSites({ workflow: { name: 'one', steps: [step] } }).some((site) => site.path === step.name && site.task === undefined);
}

/** The top-level steps whose own prompt is optimizable, in workflow order. */
export function optimizableSteps(config: PipelineConfig): Step[] {
  return config.workflow.steps.filter((step) => isOptimizableStep(step));
}

/**
 * The step whose result is the pipeline's output: the last one run. With `order` (top-level
 * steps in the order they ran), its last entry that was not skipped; without (older
 * executors), the last step of the workflow, in workflow order, with a result that was not
 * skipped. Never "the name that sorts last". Undefined when no step result qualifies.
 */
export function outputStepOf(config: PipelineConfig, result: Pick<ExecuteResult, 'steps' | 'order'>): string | undefined {
  const ran = (name: string) => {
    const r = Object.prototype.hasOwnProperty.call(result.steps, name) ? result.steps[name] : undefined;
    return r !== undefined && r.skipped !== true;
  };
  const names = result.order ?? config.workflow.steps.map((s) => s.name);
  for (let i = names.length - 1; i >= 0; i--) if (ran(names[i]!)) return names[i];
  return undefined;
}

/** The step a `previous_response` part reads (`step`, or the seed's `name` alias). */
export function referencedStep(part: PromptPart): string | undefined {
  if (part.type !== 'previous_response') return undefined;
  return (part.step ?? part.name) as string | undefined;
}

export interface PreviousResponseRef {
  step: string;
  extract?: string;
}

/** What a step reads from earlier steps, in prompt order, without duplicates. */
export function previousResponseRefs(step: { prompt?: unknown }): PreviousResponseRef[] {
  if (!Array.isArray(step.prompt)) return [];
  const out: PreviousResponseRef[] = [];
  const seen = new Set<string>();
  for (const part of step.prompt as PromptPart[]) {
    if (part === null || typeof part !== 'object') continue;
    const ref = referencedStep(part);
    if (ref === undefined) continue;
    const extract = part.type === 'previous_response' && typeof part.extract === 'string' && part.extract !== '' ? part.extract : undefined;
    const key = `${ref}\u0000${extract ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(extract === undefined ? { step: ref } : { step: ref, extract });
  }
  return out;
}
