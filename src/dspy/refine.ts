/**
 * Refine: DSPy's `dspy.Refine`. BestOfN plus feedback: after an attempt below the threshold,
 * an LM (the one in settings) reads the program's structure, the attempt's trajectory and the
 * reward, and writes advice per predictor (DSPy's `OfferFeedback` signature); the next attempt
 * runs with that advice as an extra `hint_` input field of each predictor.
 */
import type { ChatMessage, GenerateOptions, LM } from '../lm/types.js';
import { ChatAdapter } from './chat_adapter.js';
import type { Adapter, AdapterResult, Demo } from './adapter.js';
import { fieldDescriptions } from './adapter.js';
import { BestOfN, type Attempt, type BestOfNOptions } from './best_of_n.js';
import type { Module } from './module.js';
import type { Prediction } from './prediction.js';
import { Predict } from './predict.js';
import { settings } from './settings.js';
import { Signature } from './signature.js';
import { withTrace } from './trace.js';

/** DSPy's OfferFeedback signature (same instructions, fields and descriptions). */
export const OFFER_FEEDBACK = new Signature({
  instructions: `In the discussion, assign blame to each module that contributed to the final reward being below the threshold, if
any. Then, prescribe concrete advice of how the module should act on its future input when we retry the process, if
it were to receive the same or similar inputs. If a module is not to blame, the advice should be N/A.
The module will not see its own history, so it needs to rely on entirely concrete and actionable advice from you
to avoid the same mistake on the same or similar inputs.`,
  inputs: [
    { name: 'program_code', description: 'The code of the program that we are analyzing' },
    { name: 'modules_defn', description: 'The definition of each module in the program, including its I/O' },
    { name: 'program_inputs', description: 'The inputs to the program that we are analyzing' },
    { name: 'program_trajectory', description: "The trajectory of the program's execution, showing each module's I/O" },
    { name: 'program_outputs', description: 'The outputs of the program that we are analyzing' },
    { name: 'reward_code', description: 'The code of the reward function that we are analyzing' },
    { name: 'target_threshold', type: 'float', description: 'The target threshold for the reward function' },
    { name: 'reward_value', type: 'float', description: "The reward value assigned to the program's outputs" },
    { name: 'module_names', type: 'list[str]', description: 'The names of the modules in the program, for which we seek advice' },
  ],
  outputs: [
    { name: 'discussion', description: 'Discussing blame of where each module went wrong, if it did' },
    {
      name: 'advice',
      type: 'dict[str, str]',
      description:
        'For each module, describe very concretely, in this order: the specific scenarios in which it has made ' +
        'mistakes in the past and what each mistake was, followed by what it should do differently in that kind of' +
        'scenario in the future. If the module is not to blame, write N/A.',
    },
  ],
});

/** The input field that carries the advice into the next attempt (DSPy's name). */
export const HINT_FIELD = 'hint_';

/**
 * Wraps the adapter in effect: every predictor call gets a `hint_` input field holding the
 * advice for that predictor ("N/A" when none), as DSPy's WrapperAdapter.
 */
class HintAdapter implements Adapter {
  readonly name: string;
  constructor(
    private readonly inner: Adapter,
    private readonly hintFor: (signature: Signature) => string,
  ) {
    this.name = inner.name;
  }

  private withHint(signature: Signature, inputs: Record<string, unknown>): [Signature, Record<string, unknown>] {
    const hinted = signature.append({ name: HINT_FIELD, role: 'input', description: 'A hint to the module from an earlier run' });
    return [hinted, { ...inputs, [HINT_FIELD]: this.hintFor(signature) }];
  }

  format(signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): ChatMessage[] {
    const [s, i] = this.withHint(signature, inputs);
    return this.inner.format(s, demos, i);
  }

  parse(signature: Signature, completion: string): Record<string, unknown> | Promise<Record<string, unknown>> {
    return this.inner.parse(signature, completion);
  }

  call(lm: LM, options: GenerateOptions, signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): Promise<AdapterResult> {
    const [s, i] = this.withHint(signature, inputs);
    return this.inner.call(lm, options, s, demos, i);
  }
}

/** DSPy's `inspect_modules`: each predictor's fields and instructions, between separator lines. */
export function inspectModules(program: Module): string {
  const sep = '-'.repeat(80);
  const out = [sep];
  const indent = (text: string) => ['', ...text.split('\n')].join('\n\t\t');
  for (const [name, p] of program.namedPredictors()) {
    out.push(`Module ${name}`);
    out.push('\n\tInput Fields:');
    out.push(indent(fieldDescriptions(p.signature.inputFields)));
    out.push('\tOutput Fields:');
    out.push(indent(fieldDescriptions(p.signature.outputFields)));
    out.push(`\tOriginal Instructions: ${indent(p.signature.instructions)}`);
    out.push(sep);
  }
  return out.map((o) => o.replace(/^\n+|\n+$/g, '')).join('\n');
}

/** Options of Refine: those of BestOfN. */
export type RefineOptions = BestOfNOptions;

/** BestOfN with feedback between attempts (DSPy's `dspy.Refine`; see the file comment). */
export class Refine extends BestOfN {
  constructor(module: Module, options: RefineOptions) {
    super(module, options);
  }

  /** Run the attempts for `inputs`, passing advice between them. */
  override async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    let advice: Record<string, string> | undefined;
    const names = new Map(this.module.namedPredictors().map(([name, p]) => [p.signature, name] as const));
    return this.attempts(
      inputs,
      (_i, run) => {
        if (!advice) return run();
        const given = advice;
        const adapter = new HintAdapter(settings.adapter ?? new ChatAdapter(), (sig) => given[names.get(sig) ?? ''] ?? 'N/A');
        return settings.context({ adapter }, run);
      },
      async (attempt) => {
        // The feedback call is not part of the program's trace (an optimizer must not learn demos from it).
        advice = (await withTrace(() => this.feedback(inputs, attempt))).result;
      },
    );
  }

  /** Ask the settings' LM for advice per predictor from one attempt (DSPy's OfferFeedback call). */
  protected async feedback(inputs: Record<string, unknown>, attempt: Attempt): Promise<Record<string, string>> {
    const named = this.module.namedPredictors();
    const nameOf = new Map(named.map(([name, p]) => [p, name] as const));
    const dump = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));
    const trajectory = attempt.trace.map((t) => ({ module_name: nameOf.get(t.predictor) ?? '?', inputs: t.inputs, outputs: t.outputs }));
    const args: Record<string, unknown> = {
      program_code: this.module.constructor.toString(),
      modules_defn: inspectModules(this.module),
      program_inputs: dump(inputs),
      program_trajectory: dump(trajectory),
      program_outputs: dump(attempt.prediction.toDict()),
      reward_code: this.rewardFn.toString(),
      target_threshold: dump(this.threshold),
      reward_value: dump(attempt.reward),
      module_names: dump(named.map(([name]) => name)),
    };
    const out = await new Predict(OFFER_FEEDBACK).call(args);
    return out.get<Record<string, string>>('advice', {});
  }
}
