/**
 * PipelineProgram: a pipeline_ex workflow as a DSPy program.
 *
 * Each prompt pipeline_ex sends (prompts.ts: top-level LLM steps, LLM steps in loop and inline
 * pipeline bodies, claude_batch / parallel_claude task prompts) is a `Predict` held in an own
 * property of the program, so `namedPredictors()`, optimizers and save/load see one predictor
 * per prompt. The property name (= the predictor's path) is the prompt path with each step name
 * sanitised to an identifier (non `[A-Za-z0-9_]` characters become `_`, a leading digit gets
 * `step_` in front; a name that clashes with a Module member or another predictor gets
 * `_step`/`_2`... appended): `intro`, `review_loop.steps.analyze`, `batch.tasks[0]`,
 * `fanout.parallel_tasks[security]`; with `sharedTaskPredictor`, `batch.tasks`.
 * `pathOfStep`/`stepOfPath` translate between prompt paths (what `calls[].path`, `steps` and
 * `signatures` use; a top-level step's is its name) and predictor paths. The predictors never
 * call an LM themselves: `forward` renders the whole candidate config from their instructions
 * and demos (render.ts), runs it through the injected executor (in production,
 * `pipeline/execute` in Elixir), and records one trace entry per LM call the result's `calls`
 * report (see `recordTraces`), so BootstrapFewShot turns successful runs into demos for every
 * prompt, nested ones included.
 *
 * Signatures (unless overridden per step with `signatures`):
 * - the *final* step (the last top-level LLM step of the workflow, or `finalStep`) reads the example's
 *   input keys and produces the expected-output keys (from `trainset`, or `inputKeys` /
 *   `outputKeys`); field types are inferred from the training values (str, int, float, bool,
 *   list[str], list, dict);
 * - an earlier step reads the example's input keys and produces one `str` field named after
 *   the step (e.g. `analyze_for_refactoring`; `_output` appended if that is an input key);
 * - every step also reads, as extra `str` inputs, what its `previous_response` parts read:
 *   the field is named after the step read (plus `_` and the extract path, sanitised, when the
 *   part has `extract`), e.g. the refactoring plan step's inputs are
 *   `code, goal, analyze_for_refactoring`.
 * - instructions: the override's, else the step's own prompt text when it is not a placeholder
 *   (see `seedInstructions` in render.ts), else DSPy's default.
 * An input field named like an earlier step's field takes its value from that step's result;
 * any other input field is an example input of the same name (rendered as `{{inputs.NAME}}`).
 *
 * Step results become fields as step_output.ts describes. `forward` returns a Prediction with
 * the pipeline's output (the last step run, `outputStepOf` in model.ts; or the `finalStep`
 * option's result) read as the final step's fields, plus `pipeline_result` (the whole
 * executor result). An executor
 * result with `status: "error"` throws `PipelineExecutionError`, so it counts as an error
 * (towards `maxErrors`) in Evaluate and BootstrapFewShot.
 *
 * Internal state lives in one non-enumerable property, so `namedPredictors()` ignores it and
 * `deepCopy()` still copies it (the executor function is shared, the config is copied).
 */
import { ElexirionError } from '../errors.js';
import { Example, Module, Predict, Prediction, recordTrace, settings, Signature, type FieldInit } from '../dspy/index.js';
import type { PipelineCall } from '../protocol/pipeline.js';
import { PipelineExecutionError, validateExecuteResult, type ExecuteContext, type ExecuteResult, type PipelineExecutor, type StepResult } from './executor.js';
import { isLlmStep, outputStepOf, parsePipeline, previousResponseRefs } from './model.js';
import { promptSites, type PromptSite } from './prompts.js';
import { candidateId, renderCandidate, seedInstructions, type StepRendering } from './render.js';
import type { PipelineConfig, Prompt } from './schema.js';
import { parseStepOutput, previousResponseValue } from './step_output.js';

/** A per-step signature: DSPy string form, a Signature, or parts of one. */
export type SignatureOverride =
  | string
  | Signature
  | { inputs?: Array<string | FieldInit>; outputs?: Array<string | FieldInit>; instructions?: string };

export interface PipelineProgramOptions {
  executor: PipelineExecutor;
  /** Training examples: their input keys and expected-output keys (and value types) shape the signatures. */
  trainset?: readonly Example[];
  /** Input keys, when there is no trainset (or to fix their order). */
  inputKeys?: string[];
  /** Expected-output keys of the final step, when there is no trainset. */
  outputKeys?: string[];
  /**
   * The prompts to optimize, by prompt path (a top-level step's name, `LOOP.steps.INNER`,
   * `STEP.tasks[ID]`, `STEP.parallel_tasks[ID]`; with `sharedTaskPredictor`, `STEP.tasks` /
   * `STEP.parallel_tasks`); default: every prompt pipeline_ex sends (prompts.ts).
   */
  steps?: string[];
  /**
   * One predictor for all the task prompts of a claude_batch / parallel_claude step (path
   * `STEP.tasks` / `STEP.parallel_tasks`), rendered into every task, instead of one per task.
   * Only for tasks whose prompt texts are the same (else PipelineConfigError). Default false.
   */
  sharedTaskPredictor?: boolean;
  /** Per-step signature overrides, by prompt path (see `steps`). */
  signatures?: Record<string, SignatureOverride>;
  /** The step whose output is the program's answer; default: the last LLM step. */
  finalStep?: string;
  /** Passed to the executor in its context (the optimize run the calls belong to). */
  runId?: string;
}

export type InputSource = { kind: 'input'; key: string } | { kind: 'step'; step: string; extract?: string };

export interface StepBinding {
  /** The step name in the workflow. */
  step: string;
  /** The predictor's property name / path. */
  path: string;
  /** Fields that come from earlier steps (by their prompt path), by field name. */
  stepFields: Record<string, InputSource & { kind: 'step' }>;
  /** The prompt paths this predictor renders into and is traced from (several for a shared task predictor). */
  sites: string[];
}

interface ProgramState {
  config: PipelineConfig;
  executor: PipelineExecutor;
  bindings: StepBinding[];
  finalStep: string;
  /** `finalStep` was given: the answer is that step's result, not the last step run. */
  explicitFinal: boolean;
  finalOutputs: string[];
  runId: string | undefined;
}

export class PipelineConfigError extends ElexirionError {
  override readonly code: string = 'PIPELINE_CONFIG_ERROR';
  override readonly name = 'PipelineConfigError';
}

/** `analyze code!` -> `analyze_code_`; `1st` -> `step_1st`. */
export function sanitizeName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(s) || s === '' ? `step_${s}` : s;
}

/**
 * The field name of what a step produces, as its own output and as a later step's input (with
 * `extract`: `STEP_EXTRACT`). `_output` is appended when the name would clash with an example
 * input key (a step named `code` next to an input `code`).
 */
export function stepFieldName(step: string, extract?: string, inputKeys: readonly string[] = []): string {
  const base = inputKeys.includes(sanitizeName(step)) ? `${sanitizeName(step)}_output` : sanitizeName(step);
  return extract === undefined ? base : `${base}_${sanitizeName(extract)}`;
}

/** DSPy type annotation for training values of a field (the first non-null value decides). */
export function inferFieldType(values: readonly unknown[]): string {
  const present = values.filter((v) => v !== undefined && v !== null);
  if (present.length === 0) return 'str';
  if (present.every((v) => typeof v === 'string')) return 'str';
  if (present.every((v) => typeof v === 'boolean')) return 'bool';
  if (present.every((v) => typeof v === 'number')) return present.every((v) => Number.isInteger(v)) ? 'int' : 'float';
  if (present.every((v) => Array.isArray(v))) {
    return present.every((v) => (v as unknown[]).every((x) => typeof x === 'string')) ? 'list[str]' : 'list';
  }
  if (present.every((v) => typeof v === 'object' && !Array.isArray(v))) return 'dict';
  return 'str';
}

function expectedOutputKeys(example: Example): string[] {
  const whole = example.get('expected_output');
  if (whole !== null && typeof whole === 'object' && !Array.isArray(whole)) return Object.keys(whole);
  if (!example.inputKeys) return [];
  return example.labels().keys().filter((k) => k !== 'expected_output');
}

function unionInOrder(lists: Iterable<readonly string[]>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const list of lists) for (const k of list) if (!seen.has(k)) (seen.add(k), out.push(k));
  return out;
}

function toFieldInit(f: string | FieldInit, types: Record<string, string>): FieldInit {
  if (typeof f !== 'string') return f;
  return { name: f, type: types[f] ?? 'str' };
}

function recordOfDemo(demo: unknown): Record<string, unknown> {
  if (demo instanceof Example) return demo.toDict();
  return demo !== null && typeof demo === 'object' ? (demo as Record<string, unknown>) : {};
}

/** A call's result in the step-result shape step_output.ts reads. */
function callResult(call: PipelineCall): StepResult {
  const r: StepResult = { success: call.success };
  if (call.text !== undefined) r.text = call.text;
  if (call.output !== undefined) r.output = call.output;
  if (call.skipped !== undefined) r.skipped = call.skipped;
  if (call.metadata !== undefined) r.metadata = call.metadata;
  return r;
}

const ran = (r: StepResult) => r.success && r.skipped !== true;

/** One predictor-to-be: the prompt sites it stands for, its path and its output field's base name. */
interface PromptUnit {
  key: string;
  sites: PromptSite[];
  basePath: string;
  outputBase: string;
}

const sanitizeId = (id: string) => id.replace(/[^A-Za-z0-9_]/g, '_');

/** Prompt sites -> predictors: one per site, or one per task list with `shared`. */
function promptUnits(sites: readonly PromptSite[], shared: boolean): PromptUnit[] {
  const units: PromptUnit[] = [];
  const groups = new Map<string, PromptUnit>();
  for (const site of sites) {
    const stepPath = site.names.join('.steps.');
    const base = site.names.map(sanitizeName).join('.steps.');
    const stepName = site.names[site.names.length - 1]!;
    if (site.task === undefined) {
      units.push({ key: site.path, sites: [site], basePath: base, outputBase: stepName });
    } else if (shared) {
      const key = `${stepPath}.${site.task.list}`;
      const group = groups.get(key);
      if (group) group.sites.push(site);
      else {
        const unit = { key, sites: [site], basePath: `${base}.${site.task.list}`, outputBase: stepName };
        groups.set(key, unit);
        units.push(unit);
      }
    } else {
      units.push({ key: site.path, sites: [site], basePath: `${base}.${site.task.list}[${sanitizeId(site.task.id)}]`, outputBase: `${stepName}_${site.task.id}` });
    }
  }
  return units;
}

const STATE = '__pipelineProgram';

export class PipelineProgram extends Module {
  /**
   * @param pipeline a pipeline_ex config map (validated and deep-cloned: the caller's object is
   *   never touched). Use `loadPipeline`/`loadPipelineFile` for YAML.
   */
  constructor(pipeline: unknown, options: PipelineProgramOptions) {
    super();
    if (typeof options?.executor !== 'function') throw new PipelineConfigError('PipelineProgram needs an executor function');
    const config = parsePipeline(pipeline);
    const steps = config.workflow.steps;
    const byName = new Map(steps.map((s, i) => [s.name, { step: s, index: i }]));

    const sites = promptSites(config);
    const seenPaths = new Set<string>();
    for (const site of sites) {
      if (seenPaths.has(site.path)) {
        throw new PipelineConfigError(
          `two prompts have the path "${site.path}" (two steps of one body with the same name, or two tasks with the same id): ` +
            'their calls could not be told apart; give them distinct names or ids',
        );
      }
      seenPaths.add(site.path);
    }
    const units = promptUnits(sites, options.sharedTaskPredictor === true);
    const optimizable = units.map((u) => u.key);
    const chosen = options.steps ?? optimizable;
    if (chosen.length === 0) {
      throw new PipelineConfigError(`workflow "${config.workflow.name}" has no LLM step with a prompt pipeline_ex sends, so nothing to optimize`);
    }
    const listed = optimizable.join(', ') || 'none';
    for (const name of chosen) {
      if (optimizable.includes(name)) continue;
      if (byName.has(name)) throw new PipelineConfigError(`steps: "${name}" is not an optimizable LLM step (optimizable: ${listed})`);
      throw new PipelineConfigError(`steps: no step or prompt path "${name}" (optimizable: ${listed})`);
    }
    const chosenSet = new Set(chosen);
    for (const name of Object.keys(options.signatures ?? {})) {
      if (!chosenSet.has(name)) throw new PipelineConfigError(`signatures: "${name}" is not one of the optimized steps (${chosen.join(', ')})`);
    }

    const llmSteps = steps.filter(isLlmStep);
    const finalStep = options.finalStep ?? llmSteps[llmSteps.length - 1]?.name ?? chosen[chosen.length - 1]!;
    if (options.finalStep !== undefined && !byName.has(finalStep)) throw new PipelineConfigError(`finalStep: no step named "${finalStep}"`);

    // Keys and types from the training data.
    const trainset = options.trainset ?? [];
    const inputKeys = options.inputKeys ?? unionInOrder(trainset.map((e) => e.inputKeys ?? []));
    const outputKeys = options.outputKeys ?? unionInOrder(trainset.map(expectedOutputKeys));
    const types: Record<string, string> = {};
    for (const k of [...inputKeys, ...outputKeys]) {
      types[k] = inferFieldType(
        trainset.map((e) => {
          const whole = e.get<Record<string, unknown> | undefined>('expected_output');
          return e.has(k) ? e.get(k) : whole?.[k];
        }),
      );
    }

    const reserved = new Set<string>();
    const bindings: StepBinding[] = [];
    const predictors: Array<[string, Predict]> = [];
    for (const unit of units) {
      if (!chosenSet.has(unit.key)) continue;
      const path = this.freePath(unit.basePath, reserved);
      reserved.add(path);
      const first = unit.sites[0]!;
      const earlierFields: Record<string, InputSource & { kind: 'step' }> = {};
      for (const [name, from] of first.visible) earlierFields[stepFieldName(name, undefined, inputKeys)] = { kind: 'step', step: from };
      const refFields: Record<string, InputSource & { kind: 'step' }> = {};
      for (const site of unit.sites) {
        for (const ref of previousResponseRefs(site)) {
          const field = stepFieldName(ref.step, ref.extract, inputKeys);
          const from = site.visible.get(ref.step) ?? ref.step;
          refFields[field] = ref.extract === undefined ? { kind: 'step', step: from } : { kind: 'step', step: from, extract: ref.extract };
        }
      }
      const seeds = new Set(unit.sites.map((site) => seedInstructions(site) ?? ''));
      if (seeds.size > 1) {
        throw new PipelineConfigError(
          `sharedTaskPredictor: the tasks of "${unit.key}" have different prompt texts, so one predictor cannot stand for them ` +
            '(it would replace each task\'s text with the same instructions); optimize them as predictors of their own',
        );
      }
      const signature = this.buildSignature(first, unit.key, {
        override: options.signatures?.[unit.key],
        inputs: [...inputKeys.filter((k) => !(k in refFields)), ...Object.keys(refFields)],
        outputs: unit.key === finalStep ? outputKeys : [stepFieldName(unit.outputBase, undefined, inputKeys)],
        types,
      });
      bindings.push({ step: unit.key, path, stepFields: { ...earlierFields, ...refFields }, sites: unit.sites.map((site) => site.path) });
      predictors.push([path, new Predict(signature)]);
    }
    // Predictors as own enumerable properties, in workflow order: namedPredictors() finds them.
    for (const [path, p] of predictors) (this as unknown as Record<string, unknown>)[path] = p;

    const state: ProgramState = {
      config,
      executor: options.executor,
      bindings,
      finalStep,
      explicitFinal: options.finalStep !== undefined,
      finalOutputs: outputKeys.length > 0 ? outputKeys : ['response'],
      runId: options.runId,
    };
    Object.defineProperty(this, STATE, { value: state, enumerable: false, writable: true, configurable: true });
  }

  private freePath(base: string, taken: Set<string>): string {
    const clashes = (p: string) => taken.has(p) || p in this || p === STATE;
    if (!clashes(base)) return base;
    if (!clashes(`${base}_step`)) return `${base}_step`;
    for (let i = 2; ; i++) if (!clashes(`${base}_${i}`)) return `${base}_${i}`;
  }

  private buildSignature(
    step: { prompt?: Prompt },
    name: string,
    o: { override: SignatureOverride | undefined; inputs: string[]; outputs: string[]; types: Record<string, string> },
  ): Signature {
    const seeded = seedInstructions(step);
    const ov = o.override;
    if (ov instanceof Signature) return ov;
    if (typeof ov === 'string') return Signature.parse(ov, seeded);
    const inputs = ov?.inputs ?? o.inputs;
    const outputs = ov?.outputs ?? o.outputs;
    if (inputs.length === 0 || outputs.length === 0) {
      throw new PipelineConfigError(
        `step "${name}": cannot infer its signature (${inputs.length === 0 ? 'no input keys' : 'no expected-output keys'}); ` +
          'pass a trainset, inputKeys/outputKeys, or signatures["' + name + '"]',
      );
    }
    const instructions = ov?.instructions ?? seeded;
    return new Signature({
      inputs: inputs.map((f) => toFieldInit(f, o.types)),
      outputs: outputs.map((f) => toFieldInit(f, o.types)),
      ...(instructions !== undefined ? { instructions } : {}),
    });
  }

  private get state(): ProgramState {
    return (this as unknown as Record<string, ProgramState>)[STATE]!;
  }

  /** The source config (a clone; never the caller's object). */
  get pipeline(): PipelineConfig {
    return structuredClone(this.state.config);
  }

  get finalStep(): string {
    return this.state.finalStep;
  }

  /** Optimized steps in workflow order: step name, predictor path. */
  stepPaths(): Array<{ step: string; path: string }> {
    return this.state.bindings.map((b) => ({ step: b.step, path: b.path }));
  }

  pathOfStep(step: string): string | undefined {
    return this.state.bindings.find((b) => b.step === step)?.path;
  }

  stepOfPath(path: string): string | undefined {
    return this.state.bindings.find((b) => b.path === path)?.step;
  }

  /** The predictor of a step, by step name. */
  stepPredictor(step: string): Predict | undefined {
    const path = this.pathOfStep(step);
    return path === undefined ? undefined : (this as unknown as Record<string, Predict>)[path];
  }

  private sourceOf(b: StepBinding, field: string): InputSource {
    return b.stepFields[field] ?? { kind: 'input', key: field };
  }

  /** What rendering needs for each optimized step, from the predictors' current state. */
  stepRenderings(): Record<string, StepRendering> {
    const out: Record<string, StepRendering> = {};
    for (const b of this.state.bindings) {
      const p = this.stepPredictor(b.step)!;
      const exampleInputs: Record<string, string> = {};
      for (const f of p.signature.inputNames) {
        const src = this.sourceOf(b, f);
        if (src.kind === 'input') exampleInputs[f] = src.key;
      }
      out[b.step] = {
        instructions: p.signature.instructions,
        inputFields: p.signature.inputNames,
        outputFields: p.signature.outputNames,
        exampleInputs,
        demos: p.demos.map(recordOfDemo),
      };
    }
    return out;
  }

  /** The candidate config for the predictors' current instructions and demos. */
  renderConfig(): PipelineConfig {
    const byKey = this.stepRenderings();
    const bySite: Record<string, StepRendering> = {};
    for (const b of this.state.bindings) for (const site of b.sites) bySite[site] = byKey[b.step]!;
    return renderCandidate(this.state.config, bySite);
  }

  /**
   * One trace entry per LM call a predictor made, as DSPy records each call: from the result's
   * `calls` (a loop body step called three times gives three entries), or, from executors that
   * send no `calls`, one per top-level step result. Skipped and failed calls are never entries.
   * An input read from an earlier step takes that step's latest value before the call.
   */
  private recordTraces(result: ExecuteResult, inputs: Record<string, unknown>): void {
    const st = this.state;
    const bySite = new Map<string, StepBinding>();
    for (const b of st.bindings) for (const site of b.sites) bySite.set(site, b);
    const calls: Array<{ path: string; result: StepResult }> =
      result.calls?.map((c) => ({ path: c.path, result: callResult(c) })) ??
      st.bindings.flatMap((b) => b.sites.filter((site) => result.steps[site] !== undefined).map((site) => ({ path: site, result: result.steps[site]! })));
    const valueBefore = (from: string, extract: string | undefined, index: number): unknown => {
      for (let j = index - 1; j >= 0; j--) {
        const c = calls[j]!;
        if (c.path === from && ran(c.result)) return previousResponseValue(c.result, extract);
      }
      const top = Object.prototype.hasOwnProperty.call(result.steps, from) ? result.steps[from] : undefined;
      return top !== undefined && top.skipped !== true ? previousResponseValue(top, extract) : undefined;
    };
    calls.forEach((call, index) => {
      const b = bySite.get(call.path);
      if (b === undefined || !ran(call.result)) return;
      const predictor = (this as unknown as Record<string, Predict>)[b.path]!;
      const traceInputs: Record<string, unknown> = {};
      for (const f of predictor.signature.inputNames) {
        const src = this.sourceOf(b, f);
        if (src.kind === 'input') {
          if (src.key in inputs) traceInputs[f] = inputs[src.key];
        } else {
          const value = valueBefore(src.step, src.extract, index);
          if (value !== undefined) traceInputs[f] = value;
        }
      }
      recordTrace({ predictor, inputs: traceInputs, outputs: parseStepOutput(call.result, predictor.signature.outputNames) });
    });
  }

  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const st = this.state;
    const config = this.renderConfig();
    const context: ExecuteContext = { candidateId: candidateId(config), exampleId: candidateId(inputs) };
    if (st.runId !== undefined) context.runId = st.runId;
    const scope = settings.current();
    if (scope.rolloutId !== undefined) context.rolloutId = scope.rolloutId;
    if (scope.temperature !== undefined) context.temperature = scope.temperature;
    if (scope.bypassCache !== undefined) context.bypassCache = scope.bypassCache;
    if (scope.signal !== undefined) {
      scope.signal.throwIfAborted();
      context.signal = scope.signal;
    }
    const result = validateExecuteResult(await st.executor(config, { ...inputs }, context));
    if (result.status === 'error') {
      throw new PipelineExecutionError(`pipeline "${st.config.workflow.name}" failed: ${result.error ?? 'executor reported an error'}`, result);
    }
    this.recordTraces(result, inputs);
    // The answer: the explicit `finalStep`'s result, else the pipeline's output (the last step
    // run, `outputStepOf`), else the executor's `output`.
    const answerStep = st.explicitFinal ? st.finalStep : outputStepOf(st.config, result);
    const answer = answerStep === undefined ? undefined : result.steps[answerStep];
    // Read as the final step's fields (the expected-output keys) whichever step it came from.
    const finalPredictor = this.stepPredictor(st.finalStep);
    const finalFields = finalPredictor ? finalPredictor.signature.outputNames : st.finalOutputs;
    const finalResult =
      answer !== undefined && answer.skipped !== true
        ? answer
        : typeof result.output === 'string'
          ? { success: true, text: result.output }
          : { success: true, output: result.output };
    return new Prediction({ ...parseStepOutput(finalResult, finalFields), pipeline_result: result });
  }
}
