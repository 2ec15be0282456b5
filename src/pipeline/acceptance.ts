/**
 * Would pipeline_ex run this workflow? Its loader (`Pipeline.Config.validate_workflow/1`,
 * lib/pipeline/config.ex at commit ff625ec) refuses some configs outright; optimizing one of
 * those would tune prompts for a workflow that never runs. `checkWorkflowAcceptance` applies
 * the loader's rules in the loader's order and reports the first refusal as
 * `{path, type, reason}`: `path` as the user wrote it (`workflow.steps[2].prompt`), `type` the
 * step's type (null when the refusal is not about a step), `reason` what is wrong, why
 * pipeline_ex refuses it, and the config.ex lines.
 *
 * What the loader refuses (top-level steps only: it never looks inside loop or pipeline bodies):
 * - no `workflow` map; no `name`; `steps` missing, not a list, or empty (config.ex:101-123);
 * - `gemini_functions` that is not a map of `{description, parameters: map}` (config.ex:125-161);
 * - a step without `name` or `type`, or with a type outside the 15 the engine dispatches
 *   (`test_echo` is accepted only when pipeline_ex itself runs under `Mix.env() == :test`)
 *   (config.ex:185-261);
 * - `parallel_claude` without `parallel_tasks`; bad `claude_options.async_streaming`
 *   (config.ex:263-332);
 * - an LLM step (claude, gemini, gemini_instructor, claude_smart, claude_session,
 *   claude_extract, claude_robust) without `prompt`; a `claude_batch` with neither `prompt` nor
 *   `tasks`; a plain string `prompt` (config.ex:376-382); a prompt part without a known `type`
 *   or without its required key (`content`, `path`, `step`, `session_id`) (config.ex:389-445);
 * - `functions` that is not a list of names defined in `gemini_functions` (config.ex:447-480);
 * - a `previous_response` naming no top-level step (config.ex:482-507).
 * The seed design document's `{type: previous_response, name: X}` is accepted as `step: X`
 * (rendered candidates always say `step`, which is what pipeline_ex reads).
 *
 * One refusal of our own, because the run would fail rather than the load: an LLM step inside a
 * for_loop/while_loop/inline pipeline body, or a parallel_claude task, whose `prompt` is a plain
 * string. The loader does not look there, but `PromptBuilder.build/2` has clauses only for a list
 * and nil (prompt_builder.ex:13-21), so the step crashes when it is reached.
 */
import { formatPath, PipelineValidationError } from './errors.js';
import { SINGLE_PROMPT_LLM_TYPES, STEP_TYPES } from './schema.js';

export interface WorkflowRefusal {
  /** Where, as written: `workflow.steps[2].prompt`. */
  path: string;
  /** The type of the step refused; null when the refusal is not about one step. */
  type: string | null;
  /** What is wrong and why pipeline_ex refuses it. */
  reason: string;
}

export type WorkflowAcceptance = { accepted: true } | { accepted: false; refusal: WorkflowRefusal };

/** The step types pipeline_ex's loader accepts outside its own test environment (config.ex:229-245). */
export const LOADER_STEP_TYPES: readonly string[] = STEP_TYPES;

/** Step types the loader lets go without a `prompt` (config.ex:334-374). */
const NO_PROMPT_TYPES = new Set(['parallel_claude', 'set_variable', 'pipeline', 'for_loop', 'while_loop', 'data_transform', 'file_ops']);

/** LLM step types that build their prompt with PromptBuilder.build/2 (list or nil only). */
const PROMPT_BUILDER_TYPES: ReadonlySet<string> = new Set(SINGLE_PROMPT_LLM_TYPES);

/** Required key of each prompt part type (config.ex:398-445). */
const PART_REQUIRED_KEY: Readonly<Record<string, string>> = {
  static: 'content',
  file: 'path',
  previous_response: 'step',
  session_context: 'session_id',
  claude_continue: 'session_id',
};

const STREAM_HANDLERS = ['console', 'simple', 'debug', 'file', 'callback', 'buffer'];

type Dict = Record<string, unknown>;
type Path = Array<string | number>;

function isMap(v: unknown): v is Dict {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Elixir's `is_nil(map[key])`: absent and null are the same. */
const isNil = (v: unknown) => v === undefined || v === null;

class Refused {
  constructor(readonly refusal: WorkflowRefusal) {}
}

function refuse(path: Path, type: unknown, reason: string): never {
  throw new Refused({ path: formatPath(path), type: typeof type === 'string' ? type : null, reason });
}

const stepLabel = (step: Dict) => (typeof step['name'] === 'string' ? `step "${step['name']}"` : 'a step');

function checkFunctions(workflow: Dict): void {
  const fns = workflow['gemini_functions'];
  if (isNil(fns)) return;
  const base: Path = ['workflow', 'gemini_functions'];
  if (!isMap(fns)) refuse(base, null, 'gemini_functions must be a map of function definitions (config.ex:125-130)');
  for (const [name, def] of Object.entries(fns)) {
    const why = !isMap(def)
      ? 'must be a map'
      : isNil(def['description'])
        ? "is missing 'description'"
        : isNil(def['parameters'])
          ? "is missing 'parameters'"
          : !isMap(def['parameters'])
            ? "'parameters' must be a map"
            : undefined;
    if (why !== undefined) refuse([...base, name], null, `function "${name}" ${why}; pipeline_ex's loader refuses it (config.ex:144-161)`);
  }
}

function checkStreaming(step: Dict, path: Path): void {
  const opts = step['claude_options'];
  const streaming = isMap(opts) ? opts['async_streaming'] : undefined;
  if (isNil(streaming) || streaming === false) return;
  const at = [...path, 'claude_options'];
  if (streaming !== true) refuse([...at, 'async_streaming'], step['type'], `${stepLabel(step)}: claude_options.async_streaming must be a boolean (config.ex:278-291)`);
  const o = opts as Dict;
  const handler = o['stream_handler'];
  if (!isNil(handler) && !STREAM_HANDLERS.includes(handler as string)) {
    refuse([...at, 'stream_handler'], step['type'], `${stepLabel(step)}: claude_options.stream_handler must be one of ${STREAM_HANDLERS.join(', ')} (config.ex:303-315)`);
  }
  const size = o['stream_buffer_size'];
  if (!isNil(size) && !(Number.isInteger(size) && (size as number) > 0)) {
    refuse([...at, 'stream_buffer_size'], step['type'], `${stepLabel(step)}: claude_options.stream_buffer_size must be a positive integer (config.ex:317-332)`);
  }
}

function checkPromptParts(step: Dict, path: Path): void {
  const parts = step['prompt'] as unknown[];
  parts.forEach((part, j) => {
    const at = [...path, 'prompt', j];
    if (!isMap(part)) refuse(at, step['type'], `${stepLabel(step)}: a prompt part must be a map with a \`type\` (config.ex:398-401)`);
    const type = part['type'];
    if (isNil(type)) refuse(at, step['type'], `${stepLabel(step)} has a prompt part without type; pipeline_ex's loader refuses it (config.ex:439-440)`);
    const required = typeof type === 'string' ? PART_REQUIRED_KEY[type] : undefined;
    if (required === undefined) {
      refuse([...at, 'type'], step['type'], `${stepLabel(step)} has a prompt part with invalid type ${JSON.stringify(type)} (config.ex:442-443)`);
    }
    // The seed design document's `name` alias of `step` is accepted: rendered candidates say `step`.
    const present = !isNil(part[required]) || (type === 'previous_response' && !isNil(part['name']));
    if (!present) {
      refuse([...at, required], step['type'], `${stepLabel(step)} has a ${String(type)} prompt part without \`${required}\`; pipeline_ex's loader refuses it (config.ex:402-437)`);
    }
  });
}

function checkStep(step: unknown, i: number, workflow: Dict): void {
  const path: Path = ['workflow', 'steps', i];
  if (!isMap(step)) refuse(path, null, 'a step must be a map with `name` and `type` (config.ex:185-197)');
  const type = step['type'];
  if (isNil(step['name'])) refuse([...path, 'name'], type, "a step has no 'name'; pipeline_ex's loader refuses it (config.ex:187-188)");
  if (isNil(type)) refuse([...path, 'type'], null, `${stepLabel(step)} has no 'type' (config.ex:190-192)`);
  if (!LOADER_STEP_TYPES.includes(type as string)) {
    const why =
      type === 'test_echo'
        ? 'test_echo is a test-only type: pipeline_ex accepts it only when it runs under Mix.env() == :test (config.ex:247-253)'
        : `pipeline_ex's loader knows only ${LOADER_STEP_TYPES.join(', ')} (config.ex:228-260)`;
    refuse([...path, 'type'], type, `${stepLabel(step)} has type ${JSON.stringify(type)}: ${why}`);
  }
  if (type === 'parallel_claude' && isNil(step['parallel_tasks'])) {
    refuse([...path, 'parallel_tasks'], type, `${stepLabel(step)}: a parallel_claude step needs 'parallel_tasks' (config.ex:265-267)`);
  }
  if (type === 'claude') checkStreaming(step, path);
  if (type === 'claude_batch') {
    if (isNil(step['prompt']) && isNil(step['tasks'])) {
      refuse([...path, 'prompt'], type, `${stepLabel(step)}: a claude_batch step needs 'prompt' or 'tasks' (config.ex:340-346)`);
    }
  } else if (!NO_PROMPT_TYPES.has(type as string)) {
    const prompt = step['prompt'];
    if (isNil(prompt)) {
      refuse([...path, 'prompt'], type, `${stepLabel(step)}: a ${String(type)} step needs a 'prompt' list; pipeline_ex's loader refuses it without one (config.ex:376-378)`);
    }
    if (!Array.isArray(prompt)) {
      refuse(
        [...path, 'prompt'],
        type,
        `${stepLabel(step)}: the prompt is a plain ${typeof prompt === 'string' ? 'string' : typeof prompt}, and pipeline_ex's loader ` +
          'takes only a list of prompt parts ([{type: static, content: ...}]) (config.ex:380-382): this workflow would not run on pipeline_ex',
      );
    }
    checkPromptParts(step, path);
  }
  const fns = step['functions'];
  if (!isNil(fns)) {
    if (!Array.isArray(fns)) refuse([...path, 'functions'], type, `${stepLabel(step)}: functions must be a list (config.ex:461-462)`);
    const gf = workflow['gemini_functions'];
    const available = isMap(gf) ? Object.keys(gf) : [];
    fns.forEach((f, k) => {
      if (!available.includes(f as string)) {
        refuse([...path, 'functions', k], type, `${stepLabel(step)} references undefined function ${JSON.stringify(f)} (config.ex:466-471)`);
      }
    });
  }
}

/** config.ex:482-507: every previous_response of a top-level list prompt names a top-level step. */
function checkReferences(steps: Dict[]): void {
  const names = new Set(steps.map((s) => s['name']));
  steps.forEach((step, i) => {
    const prompt = step['prompt'];
    if (!Array.isArray(prompt)) return;
    prompt.forEach((part, j) => {
      if (!isMap(part) || part['type'] !== 'previous_response') return;
      const key = isNil(part['step']) ? 'name' : 'step';
      if (!names.has(part[key])) {
        refuse(
          ['workflow', 'steps', i, 'prompt', j, key],
          step['type'],
          `${stepLabel(step)} references non-existent step ${JSON.stringify(part[key])} (config.ex:482-507)`,
        );
      }
    });
  });
}

/** Bodies that run: for_loop/while_loop `steps`, an inline pipeline's `pipeline.steps` / `pipeline.workflow.steps`. */
export function bodyOf(step: Dict): { steps: unknown[]; key: Path } | undefined {
  if ((step['type'] === 'for_loop' || step['type'] === 'while_loop') && Array.isArray(step['steps'])) return { steps: step['steps'], key: ['steps'] };
  if (step['type'] === 'pipeline' && isNil(step['pipeline_file']) && isMap(step['pipeline'])) {
    const p = step['pipeline'];
    if (isMap(p['workflow']) && Array.isArray(p['workflow']['steps'])) return { steps: p['workflow']['steps'], key: ['pipeline', 'workflow', 'steps'] };
    if (Array.isArray(p['steps'])) return { steps: p['steps'], key: ['pipeline', 'steps'] };
  }
  return undefined;
}

/** Our own refusal: a string prompt that PromptBuilder.build/2 would crash on when the step runs. */
function checkRuntimePrompts(steps: unknown[], base: Path, nested: boolean): void {
  steps.forEach((step, i) => {
    if (!isMap(step)) return;
    const path = [...base, i];
    const why =
      "pipeline_ex's loader does not check it, but PromptBuilder.build/2 takes only a list of prompt parts " +
      '(prompt_builder.ex:13-21), so the step would crash when run';
    if (nested && PROMPT_BUILDER_TYPES.has(step['type'] as string) && typeof step['prompt'] === 'string') {
      refuse([...path, 'prompt'], step['type'], `${stepLabel(step)} (in a loop or pipeline body): the prompt is a plain string; ${why}`);
    }
    if (step['type'] === 'parallel_claude' && Array.isArray(step['parallel_tasks'])) {
      step['parallel_tasks'].forEach((task, k) => {
        if (isMap(task) && typeof task['prompt'] === 'string') {
          refuse([...path, 'parallel_tasks', k, 'prompt'], 'parallel_claude', `${stepLabel(step)}: task ${k}'s prompt is a plain string; each task runs as a claude step and ${why}`);
        }
      });
    }
    const body = bodyOf(step);
    if (body) checkRuntimePrompts(body.steps, [...path, ...body.key], true);
  });
}

/**
 * Whether pipeline_ex would load (and could run) this workflow map; the first refusal in the
 * loader's own order when it would not. Never throws.
 */
export function checkWorkflowAcceptance(config: unknown): WorkflowAcceptance {
  try {
    if (!isMap(config) || isNil(config['workflow'])) {
      refuse(['workflow'], null, "there is no 'workflow' root: pipeline_ex's loader needs one map under the key `workflow` (config.ex:105-107)");
    }
    const workflow = config['workflow'];
    if (!isMap(workflow)) refuse(['workflow'], null, '`workflow` must be a map with `name` and `steps` (config.ex:101-123)');
    if (isNil(workflow['name'])) refuse(['workflow', 'name'], null, "the workflow has no 'name' (config.ex:109-110)");
    const steps = workflow['steps'];
    if (!Array.isArray(steps)) refuse(['workflow', 'steps'], null, "the workflow needs a 'steps' list (config.ex:112-114)");
    if (steps.length === 0) refuse(['workflow', 'steps'], null, 'the workflow must contain at least one step (config.ex:116-118)');
    checkFunctions(workflow);
    steps.forEach((s, i) => checkStep(s, i, workflow));
    checkReferences(steps as Dict[]);
    checkRuntimePrompts(steps, ['workflow', 'steps'], false);
    return { accepted: true };
  } catch (err) {
    if (err instanceof Refused) return { accepted: false, refusal: err.refusal };
    throw err;
  }
}

/** A workflow pipeline_ex would refuse; `refusal` says where and why. */
export class WorkflowRefusedError extends PipelineValidationError {
  override readonly code: string = 'WORKFLOW_REFUSED_ERROR';
  constructor(
    readonly refusal: WorkflowRefusal,
    source?: string,
  ) {
    super([{ path: refusal.path, message: `refused (it would not run on pipeline_ex): ${refusal.reason}` }], source);
  }
}

/** Throws `WorkflowRefusedError` when pipeline_ex would refuse the workflow. */
export function assertAcceptedByPipelineEx(config: unknown, source?: string): void {
  const verdict = checkWorkflowAcceptance(config);
  if (!verdict.accepted) throw new WorkflowRefusedError(verdict.refusal, source);
}

const isMapLike = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Problems in nested steps (loop and pipeline bodies) that pipeline_ex does not check at load
 * but fails on when the step runs: a plain-string prompt (PromptBuilder.build/2 has no clause
 * for a string, prompt_builder.ex:13-21) or an unknown type (loop.ex:554-602).
 */
export function nestedWarnings(config: unknown): string[] {
  const out: string[] = [];
  if (!isMapLike(config) || !isMapLike(config.workflow) || !Array.isArray(config.workflow.steps)) return out;
  const visit = (steps: unknown, at: string) => {
    if (!Array.isArray(steps)) return;
    steps.forEach((s, i) => {
      if (!isMapLike(s)) return;
      const here = `${at}[${i}]`;
      if (typeof s.prompt === 'string') out.push(`${here}.prompt is a plain string: pipeline_ex does not check nested steps at load and fails when this step runs`);
      if (typeof s.type === 'string' && !LOADER_STEP_TYPES.includes(s.type)) out.push(`${here}.type '${s.type}' is not a pipeline_ex step type: it fails when it runs`);
      body(s, here);
    });
  };
  const body = (s: Record<string, unknown>, here: string) => {
    visit(s.steps, `${here}.steps`);
    if (isMapLike(s.pipeline)) visit(s.pipeline.steps, `${here}.pipeline.steps`);
  };
  (config.workflow.steps as unknown[]).forEach((s, i) => isMapLike(s) && body(s, `workflow.steps[${i}]`));
  return out;
}
