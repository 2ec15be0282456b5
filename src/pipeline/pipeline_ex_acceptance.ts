/**
 * What pipeline_ex's own loader refuses: a port of `Pipeline.Config.validate_workflow/1`
 * (pipeline_ex lib/pipeline/config.ex:89-97 and the private checks below it, commit ff625ec).
 * Our zod model (schema.ts) is more lenient in places (plain-string prompts) and stricter in
 * others (duplicate names); this answers the one question "would pipeline_ex load this file?",
 * with the first problem it would report, where it would report it, and why.
 *
 * pipeline_ex checks the top-level steps only (config.ex:164-173): steps nested in loop and
 * pipeline bodies are not validated at load. Problems we can see there that pipeline_ex will
 * only hit when the step runs are returned as warnings.
 */
import { STEP_TYPES } from './schema.js';

/**
 * pipeline_ex's dispatchable step types outside its test environment (config.ex:226-242):
 * the same list as our schema's.
 */
export const PIPELINE_EX_STEP_TYPES: readonly string[] = STEP_TYPES;

/** Step types that need no `prompt` (config.ex:318-350). */
const NO_PROMPT_TYPES = new Set(['parallel_claude', 'set_variable', 'pipeline', 'for_loop', 'while_loop', 'data_transform', 'file_ops']);

export interface Refusal {
  /** Where pipeline_ex finds the problem: `workflow.steps[2].prompt`, `workflow`, `(root)`. */
  path: string;
  /** The step's type (`workflow` for workflow-level problems). */
  type: string;
  /** pipeline_ex's reason, in its words where it has some. */
  reason: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const nil = (v: unknown) => v === undefined || v === null;

/** The first refusal pipeline_ex's `validate_workflow` would return, or undefined when it loads. */
export function pipelineExRefusal(config: unknown): Refusal | undefined {
  // config.ex:99-120 (validate_required_fields)
  if (!isObj(config) || nil(config.workflow)) {
    return { path: '(root)', type: 'workflow', reason: "Configuration missing required 'workflow' section" };
  }
  const wf = config.workflow;
  if (!isObj(wf)) return { path: 'workflow', type: 'workflow', reason: "'workflow' must be a map" };
  if (nil(wf.name)) return { path: 'workflow.name', type: 'workflow', reason: "Workflow missing required 'name' field" };
  if (!Array.isArray(wf.steps)) return { path: 'workflow.steps', type: 'workflow', reason: "Workflow missing required 'steps' array" };
  if (wf.steps.length === 0) return { path: 'workflow.steps', type: 'workflow', reason: 'Workflow must contain at least one step' };
  // config.ex:122-163 (validate_functions)
  const fns = wf.gemini_functions;
  if (!nil(fns)) {
    if (!isObj(fns)) return { path: 'workflow.gemini_functions', type: 'workflow', reason: 'gemini_functions must be a map of function definitions' };
    for (const [name, def] of Object.entries(fns)) {
      const missing = !isObj(def) ? 'must be a map' : nil(def.description) ? "missing 'description' field" : nil(def.parameters) ? "missing 'parameters' field" : !isObj(def.parameters) ? 'parameters must be a map' : undefined;
      if (missing) return { path: `workflow.gemini_functions.${name}`, type: 'workflow', reason: `Function '${name}' ${missing}` };
    }
  }
  const steps = wf.steps as unknown[];
  for (let i = 0; i < steps.length; i++) {
    const r = stepRefusal(steps[i], `workflow.steps[${i}]`, fns);
    if (r) return r;
  }
  // config.ex:522-545 (validate_step_dependencies): previous_response names a top-level step
  const names = new Set(steps.map((s) => (isObj(s) ? s.name : undefined)));
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i] as Obj;
    if (!Array.isArray(s.prompt)) continue;
    const bad = s.prompt.filter((p) => isObj(p) && p.type === 'previous_response' && !names.has(p.step)).map((p) => String((p as Obj).step));
    if (bad.length > 0) {
      return { path: `workflow.steps[${i}].prompt`, type: String(s.type), reason: `Step '${String(s.name)}' references non-existent steps: ${bad.join(', ')}` };
    }
  }
  return undefined;
}

function stepRefusal(step: unknown, at: string, fns: unknown): Refusal | undefined {
  if (!isObj(step)) return { path: at, type: 'unknown', reason: 'a step must be a map' };
  const name = String(step.name);
  const type = typeof step.type === 'string' ? step.type : String(step.type);
  // config.ex:176-200
  if (nil(step.name)) return { path: `${at}.name`, type, reason: "Step missing required 'name' field" };
  if (nil(step.type)) return { path: `${at}.type`, type: 'unknown', reason: `Step '${name}' missing required 'type' field` };
  // config.ex:226-258 (test_echo is accepted only under Mix.env() == :test)
  if (!PIPELINE_EX_STEP_TYPES.includes(type)) {
    return { path: `${at}.type`, type, reason: `Step '${name}' has invalid type '${type}'` };
  }
  // config.ex:260-269
  if (type === 'parallel_claude' && nil(step.parallel_tasks)) {
    return { path: `${at}.parallel_tasks`, type, reason: `Step '${name}' of type 'parallel_claude' missing required 'parallel_tasks' field` };
  }
  if (type === 'claude') {
    const r = asyncStreamingRefusal(step, at, name);
    if (r) return { ...r, type };
  }
  // config.ex:313-364 (validate_step_prompt)
  if (type === 'claude_batch') {
    if (nil(step.prompt) && nil(step.tasks)) return { path: `${at}.prompt`, type, reason: `Step '${name}' of type 'claude_batch' must have either 'prompt' or 'tasks' field` };
  } else if (!NO_PROMPT_TYPES.has(type)) {
    if (nil(step.prompt)) return { path: `${at}.prompt`, type, reason: `Step '${name}' missing required 'prompt' field` };
    if (!Array.isArray(step.prompt)) {
      return { path: `${at}.prompt`, type, reason: `Step '${name}' prompt must be an array of prompt parts (pipeline_ex refuses a plain string prompt, config.ex:380-382)` };
    }
    for (let j = 0; j < step.prompt.length; j++) {
      const why = partProblem(step.prompt[j], name);
      if (why) return { path: `${at}.prompt[${j}]`, type, reason: why };
    }
  }
  // config.ex:496-520 (validate_step_function_references)
  if (!nil(step.functions)) {
    if (!Array.isArray(step.functions)) return { path: `${at}.functions`, type, reason: `Step '${name}' functions must be a list` };
    const known = isObj(fns) ? Object.keys(fns) : [];
    const missing = step.functions.find((f) => !known.includes(f as string));
    if (missing !== undefined) return { path: `${at}.functions`, type, reason: `Step '${name}' references undefined function: ${String(missing)}` };
  }
  return undefined;
}

function asyncStreamingRefusal(step: Obj, at: string, name: string): Omit<Refusal, 'type'> | undefined {
  // config.ex:272-311
  const opts = isObj(step.claude_options) ? step.claude_options : {};
  const flag = opts.async_streaming;
  if (nil(flag) || flag === false) return undefined;
  if (flag !== true) return { path: `${at}.claude_options.async_streaming`, reason: `Step '${name}' claude_options.async_streaming must be a boolean` };
  const handler = opts.stream_handler;
  if (!nil(handler) && !['console', 'simple', 'debug', 'file', 'callback', 'buffer'].includes(handler as string)) {
    return { path: `${at}.claude_options.stream_handler`, reason: `Step '${name}' claude_options.stream_handler must be one of: console, simple, debug, file, callback, buffer` };
  }
  const size = opts.stream_buffer_size;
  if (!nil(size) && !(Number.isInteger(size) && (size as number) > 0)) {
    return { path: `${at}.claude_options.stream_buffer_size`, reason: `Step '${name}' claude_options.stream_buffer_size must be a positive integer` };
  }
  return undefined;
}

/** config.ex:375-420 (validate_prompt_part). */
function partProblem(part: unknown, name: string): string | undefined {
  const p = isObj(part) ? part : {};
  switch (p.type) {
    case 'static':
      return nil(p.content) ? `Step '${name}' has static prompt part without content` : undefined;
    case 'file':
      return nil(p.path) ? `Step '${name}' has file prompt part without path` : undefined;
    case 'previous_response':
      return nil(p.step) ? `Step '${name}' has previous_response prompt part missing 'step' field` : undefined;
    case 'session_context':
    case 'claude_continue':
      return nil(p.session_id) ? `Step '${name}' has ${p.type} prompt part missing 'session_id' field` : undefined;
    case undefined:
    case null:
      return `Step '${name}' has prompt part without type`;
    default:
      return `Step '${name}' has prompt part with invalid type: ${String(p.type)}`;
  }
}

/**
 * Problems in nested steps (loop and pipeline bodies) that pipeline_ex does not check at load
 * but fails on when the step runs: a plain-string prompt (PromptBuilder.build/2 has no clause
 * for a string, prompt_builder.ex:13-21) or an unknown type (loop.ex:554-602).
 */
export function nestedWarnings(config: unknown): string[] {
  const out: string[] = [];
  if (!isObj(config) || !isObj(config.workflow) || !Array.isArray(config.workflow.steps)) return out;
  const visit = (steps: unknown, at: string) => {
    if (!Array.isArray(steps)) return;
    steps.forEach((s, i) => {
      if (!isObj(s)) return;
      const here = `${at}[${i}]`;
      if (typeof s.prompt === 'string') out.push(`${here}.prompt is a plain string: pipeline_ex does not check nested steps at load and fails when this step runs`);
      if (typeof s.type === 'string' && !PIPELINE_EX_STEP_TYPES.includes(s.type)) out.push(`${here}.type '${s.type}' is not a pipeline_ex step type: it fails when it runs`);
      body(s, here);
    });
  };
  const body = (s: Obj, here: string) => {
    visit(s.steps, `${here}.steps`);
    if (isObj(s.pipeline)) visit(s.pipeline.steps, `${here}.pipeline.steps`);
  };
  (config.workflow.steps as unknown[]).forEach((s, i) => isObj(s) && body(s, `workflow.steps[${i}]`));
  return out;
}
