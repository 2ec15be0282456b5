/**
 * The prompts pipeline_ex sends, found in a workflow: each is a `PromptSite`, and the sites are
 * exactly what can be optimized (PipelineProgram makes each one a predictor; render.ts rewrites
 * them). Read from pipeline_ex's source at commit ff625ec:
 *
 * - a top-level claude, gemini, gemini_instructor, claude_smart, claude_session, claude_extract
 *   or claude_robust step sends its list `prompt` (PromptBuilder.build/2). Path: `STEP`.
 * - the same step types inside a for_loop/while_loop body (lib/pipeline/step/loop.ex:554-600)
 *   or an inline `pipeline:` body (nested_pipeline.ex:152-153, 178-195), once per iteration.
 *   Path: `LOOP.steps.INNER`; nesting repeats (`a.steps.b.steps.c`). A loop body runs only
 *   LLM steps, set_variable and loops (loop.ex:554-600): a `pipeline` step inside a loop body
 *   is never run, so nothing below it is sent. A nested step without a prompt sends "" and has
 *   nothing to optimize.
 * - `pipeline_file:` bodies are not read: the file is loaded by pipeline_ex when the step runs,
 *   a candidate cannot rewrite it, and it is a workflow of its own (optimize it on its own).
 * - claude_batch (claude_batch.ex:72-131): each task's `prompt` (a list, or a string pipeline_ex
 *   wraps in a static part). Path: `STEP.tasks[ID]`. A task with `file` and no `prompt` sends a
 *   fixed "Analyze this file": nothing to optimize. The step-level `prompt` is sent only when
 *   there are no tasks (as the single default task) or when some task has neither `prompt` nor
 *   `file` (then it follows a "Task context" part); otherwise pipeline_ex never sends it, and it
 *   is not a site. When sent, its path is `STEP`.
 * - parallel_claude (parallel_claude.ex:20-33): each `parallel_tasks[].prompt`, run as a claude
 *   step. Path: `STEP.parallel_tasks[ID]`. Its step-level `prompt` is never sent.
 * ID = the task's `id` (as the executors name calls, docs/CONTRACTS.md), else its index.
 */
import { bodyOf } from './acceptance.js';
import { SINGLE_PROMPT_LLM_TYPES, type PipelineConfig, type Prompt } from './schema.js';

/** Step types whose `prompt` pipeline_ex builds and sends as one LM call. */
export const PROMPT_STEP_TYPES: readonly string[] = SINGLE_PROMPT_LLM_TYPES;

/** Step types a for_loop/while_loop body dispatches (loop.ex:554-600). */
const LOOP_BODY_TYPES = new Set([...PROMPT_STEP_TYPES, 'parallel_claude', 'claude_batch', 'set_variable', 'for_loop', 'while_loop']);

export type TaskList = 'tasks' | 'parallel_tasks';

export interface PromptSite {
  /** The path executors report in `calls[].path`: `STEP`, `LOOP.steps.INNER`, `STEP.tasks[ID]`. */
  path: string;
  /** Step names from the top-level step down to the step that sends the prompt. */
  names: string[];
  /** For a batch/parallel task: which list and the task's ID. */
  task?: { list: TaskList; id: string };
  /** The step that sends the prompt (for a task: its claude_batch / parallel_claude step). */
  stepType: string;
  /** Where the object holding `prompt` is in the config (`['workflow','steps',2,'steps',0]`). */
  at: Array<string | number>;
  /** The prompt as written. */
  prompt: Prompt;
  /**
   * Steps that run before this one and that a `previous_response` can read, by name -> their
   * path (an inner body's names shadow outer ones).
   */
  visible: ReadonlyMap<string, string>;
}

type Dict = Record<string, unknown>;

function isMap(v: unknown): v is Dict {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The ID a task's calls carry: its `id`, else its index. */
export function taskId(task: Dict, index: number): string {
  const id = task['id'];
  return typeof id === 'string' || typeof id === 'number' ? String(id) : String(index);
}

function isListPrompt(p: unknown): p is Prompt {
  return Array.isArray(p) && p.every(isMap);
}

function tasksOf(step: Dict, list: TaskList): Dict[] {
  const tasks = step[list];
  return Array.isArray(tasks) ? (tasks as unknown[]).filter(isMap) : [];
}

function walk(steps: unknown[], at: Array<string | number>, names: string[], inLoop: boolean, outer: ReadonlyMap<string, string>, out: PromptSite[]): void {
  const visible = new Map(outer);
  steps.forEach((raw, i) => {
    if (!isMap(raw) || typeof raw['name'] !== 'string' || typeof raw['type'] !== 'string') return;
    const step = raw;
    const name = step['name'] as string;
    const type = step['type'] as string;
    if (inLoop && !LOOP_BODY_TYPES.has(type)) return;
    const own = [...names, name];
    const path = own.join('.steps.');
    const stepAt = [...at, i];
    const site = (extra: Partial<PromptSite> & Pick<PromptSite, 'path' | 'at' | 'prompt'>): PromptSite => ({
      names: own,
      stepType: type,
      visible: new Map(visible),
      ...extra,
    });
    if (PROMPT_STEP_TYPES.includes(type) && isListPrompt(step['prompt'])) {
      out.push(site({ path, at: stepAt, prompt: step['prompt'] }));
    } else if (type === 'claude_batch') {
      const tasks = tasksOf(step, 'tasks');
      tasks.forEach((task, k) => {
        const prompt = task['prompt'];
        if (!isListPrompt(prompt) && typeof prompt !== 'string') return;
        const id = taskId(task, k);
        out.push(site({ path: `${path}.tasks[${id}]`, task: { list: 'tasks', id }, at: [...stepAt, 'tasks', k], prompt }));
      });
      const stepPromptSent = tasks.length === 0 || tasks.some((t) => t['prompt'] === undefined && typeof t['file'] !== 'string');
      if (stepPromptSent && isListPrompt(step['prompt'])) out.push(site({ path, at: stepAt, prompt: step['prompt'] }));
    } else if (type === 'parallel_claude') {
      tasksOf(step, 'parallel_tasks').forEach((task, k) => {
        if (!isListPrompt(task['prompt'])) return;
        const id = taskId(task, k);
        out.push(site({ path: `${path}.parallel_tasks[${id}]`, task: { list: 'parallel_tasks', id }, at: [...stepAt, 'parallel_tasks', k], prompt: task['prompt'] }));
      });
    } else {
      const body = bodyOf(step);
      if (body) walk(body.steps, [...stepAt, ...body.key], own, type !== 'pipeline', visible, out);
    }
    visible.set(name, path);
  });
}

/** Every prompt pipeline_ex sends for this workflow, in workflow order (depth first). */
export function promptSites(config: PipelineConfig): PromptSite[] {
  const out: PromptSite[] = [];
  walk(config.workflow.steps, ['workflow', 'steps'], [], false, new Map(), out);
  return out;
}

/** The object at `at` (the holder of a site's `prompt`) inside `config`. */
export function holderAt(config: unknown, at: ReadonlyArray<string | number>): Dict {
  let cur: unknown = config;
  for (const k of at) cur = (cur as Record<string | number, unknown>)[k];
  return cur as Dict;
}
