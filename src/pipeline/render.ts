/**
 * Candidate rendering: a pipeline config plus, for each optimized prompt (by its prompt path,
 * prompts.ts: `STEP`, `LOOP.steps.INNER`, `STEP.tasks[ID]`, `STEP.parallel_tasks[ID]`), its
 * current instructions and demos -> the pipeline_ex config that is executed for that candidate.
 *
 * Pure and deterministic: the same inputs give byte-identical output, and the source config is
 * deep-cloned, never mutated.
 *
 * Which part of a step's prompt is rewritten:
 * - a list prompt: the `static` part marked `optimize: true`; else the first `static` part whose
 *   content is a seed-style placeholder (`/^[A-Z_]*PLACEHOLDER[A-Z_]*$/`, e.g.
 *   `PLACEHOLDER_FOR_OPTIMIZATION`, `ANALYSIS_PLACEHOLDER`); else the first `static` part; if the
 *   list has no static part, a new one is inserted at the front. Only that part's `content`
 *   changes: its other keys (including `optimize`) and every other part (`previous_response`,
 *   `file`, `session_context`, ...) stay as they are, in order.
 * - a string prompt (pipeline_ex accepts one only as a claude_batch task's): replaced whole by
 *   the rendered text. The original string is the step's
 *   initial instructions (see program.ts), so its `{{...}}` templates survive as long as the
 *   instructions keep them.
 * - templates of the replaced text (string prompt or static part) that the rendered text lacks
 *   (new instructions dropped `{{steps.first.text}}`, say) are appended under "### Context".
 * - in every top-level step and every prompt site (prompts.ts) of the candidate, a
 *   `previous_response` part written with the seed design
 *   document's `name` key (and no `step`) gets that key renamed to `step`, in place: pipeline_ex
 *   and the reference executor only read `step`.
 *
 * The rendered text, in order:
 *   1. the instructions;
 *   2. the output format: for several output fields, "Respond with only a JSON object with the
 *      keys ..." (so step outputs parse back into fields); for one field, nothing;
 *   3. each demo as a worked example, "### Example N", "Input:" then each input field as a
 *      DSPy-style `[[ ## field ## ]]` header followed by its value, then "Output:" and the
 *      output (a JSON object of the output fields, or the bare value for a single string field).
 *      A demo with no input or no output field present is skipped; a missing field reads
 *      "Not supplied for this particular example." (as DSPy's chat adapter does);
 *   4. "### Input" and, for each signature input that comes from the example inputs and is not
 *      already referenced by `{{inputs.KEY}}` anywhere in the step's prompt, its header followed
 *      by the `{{inputs.KEY}}` template, which the executor substitutes. Inputs that come from
 *      earlier steps reach the prompt through their own `previous_response` parts.
 */
import { canonicalJson, hashJson } from '../util/canonical_json.js';
import { holderAt, promptSites } from './prompts.js';
import type { PipelineConfig, Prompt, PromptPart } from './schema.js';

/** The seed's placeholder convention: a static part whose whole content is e.g. `ANALYSIS_PLACEHOLDER`. */
export const PLACEHOLDER_PATTERN = /^[A-Z_]*PLACEHOLDER[A-Z_]*$/;

export const MISSING_FIELD_TEXT = 'Not supplied for this particular example.';

/** What rendering needs to know about one optimized step. */
export interface StepRendering {
  instructions: string;
  /** Signature input field names, in order. */
  inputFields: readonly string[];
  /** Signature output field names, in order. */
  outputFields: readonly string[];
  /**
   * For input fields that come from the example inputs: field name -> input key (usually the
   * same). Fields not listed here come from earlier steps.
   */
  exampleInputs: Readonly<Record<string, string>>;
  /** Demos as plain field -> value records (DSPy Example data). */
  demos: ReadonlyArray<Readonly<Record<string, unknown>>>;
}

export function isPlaceholder(content: unknown): boolean {
  return typeof content === 'string' && PLACEHOLDER_PATTERN.test(content.trim());
}

/**
 * Index of the static part optimization rewrites in a list prompt, or -1 when the list has no
 * static part. Precedence: `optimize: true`, then a placeholder, then the first static part.
 */
export function findOptimizablePart(prompt: readonly PromptPart[]): number {
  const marked = prompt.findIndex((p) => p.type === 'static' && (p as { optimize?: unknown }).optimize === true);
  if (marked >= 0) return marked;
  const placeholder = prompt.findIndex((p) => p.type === 'static' && isPlaceholder((p as { content?: unknown }).content));
  if (placeholder >= 0) return placeholder;
  return prompt.findIndex((p) => p.type === 'static');
}

/**
 * The instruction text a step starts from: the content of its optimizable static part (or its
 * string prompt), or undefined when that is a placeholder / absent (the signature's default
 * instructions are used then).
 */
export function seedInstructions(step: { prompt?: Prompt }): string | undefined {
  const prompt = step.prompt;
  if (typeof prompt === 'string') return prompt.trim() === '' || isPlaceholder(prompt) ? undefined : prompt;
  if (!Array.isArray(prompt)) return undefined;
  const i = findOptimizablePart(prompt);
  if (i < 0) return undefined;
  const content = (prompt[i] as { content?: unknown }).content;
  if (typeof content !== 'string' || content.trim() === '' || isPlaceholder(content)) return undefined;
  return content;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return MISSING_FIELD_TEXT;
  return JSON.stringify(value, null, 2) ?? String(value);
}

function formatOutput(demo: Readonly<Record<string, unknown>>, outputFields: readonly string[]): string {
  if (outputFields.length === 1) return formatValue(demo[outputFields[0] as string]);
  const obj: Record<string, unknown> = {};
  for (const f of outputFields) obj[f] = f in demo ? demo[f] : MISSING_FIELD_TEXT;
  return JSON.stringify(obj, null, 2);
}

function templateRe(key: string): RegExp {
  return new RegExp(`\\{\\{\\s*inputs\\.${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\}\\}`);
}

/** All text of a prompt other than the part at `skip` (where templates may already appear). */
function otherPromptText(prompt: Prompt | undefined, skip: number): string {
  if (prompt === undefined) return '';
  if (typeof prompt === 'string') return '';
  return prompt
    .filter((_, i) => i !== skip)
    .map((p) => JSON.stringify(p))
    .join('\n');
}

/** The rendered text of a step's optimizable part. `context` is the rest of the step's prompt. */
export function renderStepText(r: StepRendering, context = ''): string {
  const blocks: string[] = [r.instructions.trim()];
  if (r.outputFields.length > 1) {
    blocks.push(
      `Respond with only a JSON object with the keys ${r.outputFields.map((f) => `"${f}"`).join(', ')}.`,
    );
  }
  let n = 0;
  for (const demo of r.demos) {
    const hasInput = r.inputFields.some((f) => demo[f] !== undefined);
    const hasOutput = r.outputFields.some((f) => demo[f] !== undefined);
    if (!hasInput || !hasOutput) continue;
    n += 1;
    const lines = [`### Example ${n}`, 'Input:'];
    for (const f of r.inputFields) lines.push(`[[ ## ${f} ## ]]`, formatValue(demo[f]));
    lines.push('Output:', formatOutput(demo, r.outputFields));
    blocks.push(lines.join('\n'));
  }
  const searchable = `${r.instructions}\n${context}`;
  const inputLines: string[] = [];
  for (const f of r.inputFields) {
    const key = r.exampleInputs[f];
    if (key === undefined || templateRe(key).test(searchable)) continue;
    inputLines.push(`[[ ## ${f} ## ]]`, `{{inputs.${key}}}`);
  }
  if (inputLines.length > 0) blocks.push(['### Input', ...inputLines].join('\n'));
  return blocks.join('\n\n');
}

/** The step's prompt with its optimizable part rendered; the step itself is not modified. */
export function renderStepPrompt(step: { prompt?: Prompt }, r: StepRendering): Prompt {
  const prompt = step.prompt;
  if (prompt === undefined || typeof prompt === 'string') return keepTemplates(renderStepText(r), prompt ?? '');
  const parts = structuredClone(prompt) as PromptPart[];
  const i = findOptimizablePart(parts);
  if (i < 0) {
    return [{ type: 'static', content: renderStepText(r, otherPromptText(parts, -1)) }, ...parts];
  }
  const original = String((parts[i] as { content?: unknown }).content ?? '');
  (parts[i] as { content: string }).content = keepTemplates(renderStepText(r, otherPromptText(parts, i)), original);
  return parts;
}

const TEMPLATE_RE = /\{\{\s*[^{}]+?\s*\}\}/g;

/**
 * Templates of the text being replaced (`{{steps.first.text}}`, `{{global_vars.x}}`,
 * `{{inputs.extra}}`, ...) that the rendered text no longer has (new instructions from an
 * optimizer dropped them) are appended under "### Context", one per line, so the step keeps
 * every reference it had.
 */
function keepTemplates(rendered: string, original: string): string {
  const have = new Set((rendered.match(TEMPLATE_RE) ?? []).map((t) => t.replace(/\s+/g, '')));
  const missing: string[] = [];
  for (const t of original.match(TEMPLATE_RE) ?? []) {
    const key = t.replace(/\s+/g, '');
    if (have.has(key)) continue;
    have.add(key);
    missing.push(t);
  }
  return missing.length === 0 ? rendered : `${rendered}\n\n### Context\n${missing.join('\n')}`;
}

/**
 * The candidate config: a deep clone of `config` with each prompt named in `steps` rendered.
 * Keys are the prompt paths of prompts.ts (`STEP` for a top-level step, `LOOP.steps.INNER`,
 * `STEP.tasks[ID]`, `STEP.parallel_tasks[ID]`); only those prompts change, at any depth.
 * Everything else is left exactly as it was.
 */
export function renderCandidate(
  config: PipelineConfig,
  steps: Readonly<Record<string, StepRendering>>,
): PipelineConfig {
  const out = structuredClone(config);
  for (const step of out.workflow.steps) {
    if (Array.isArray(step.prompt)) step.prompt = step.prompt.map(normalizePreviousResponse);
  }
  for (const site of promptSites(out)) {
    const holder = holderAt(out, site.at) as { prompt?: Prompt };
    if ((site.names.length > 1 || site.task) && Array.isArray(holder.prompt)) holder.prompt = holder.prompt.map(normalizePreviousResponse);
    const r = Object.prototype.hasOwnProperty.call(steps, site.path) ? steps[site.path] : undefined;
    if (r === undefined) continue;
    holder.prompt = renderStepPrompt(holder, r);
  }
  return out;
}

/** `{type: previous_response, name: X}` -> `{type: previous_response, step: X}`, key order kept. */
function normalizePreviousResponse(part: PromptPart): PromptPart {
  if (part.type !== 'previous_response' || part.step !== undefined || part.name === undefined) return part;
  return Object.fromEntries(Object.entries(part).map(([k, v]) => (k === 'name' ? ['step', v] : [k, v]))) as PromptPart;
}

/** JSON with object keys sorted, so equal configs hash equal whatever their key order. */
export const stableStringify = canonicalJson;

/** A stable id for a rendered config: the first 16 hex digits of its SHA-256. */
export function candidateId(config: unknown): string {
  return hashJson(config).slice(0, 16);
}
