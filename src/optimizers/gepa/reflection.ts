/**
 * GEPA's reflective mutation of one predictor: what the reflection LM reads (the predictor's
 * inputs and outputs on a minibatch of real executions, with the metric's feedback on each)
 * and how its answer becomes a new instruction.
 *
 * The proposal goes through a `Predict` with its own signature, like MIPROv2's proposer, so any
 * LM answers it in the adapter's format (the offline and dummy LMs included), it is traced,
 * cached and metered like every other call, and a reflection LM different from the task LM is
 * just another `lm`.
 */
import { Predict, Signature, settings } from '../../dspy/index.js';
import type { LM } from '../../lm/types.js';

/** One record of the reflective dataset (DSPy's `Inputs` / `Generated Outputs` / `Feedback`). */
export interface ReflectionRecord {
  inputs: Record<string, unknown>;
  /** The predictor's outputs, or a sentence saying why there are none (error, parse failure). */
  outputs: Record<string, unknown> | string;
  feedback: string;
  score: number;
}

const REFLECTION_SIGNATURE = Signature.parse(
  'current_instruction, examples_with_feedback -> new_instruction',
  [
    'You improve the instruction given to an assistant that performs one step of a task.',
    'You see the instruction it was given and several of its real inputs, the outputs it produced, and feedback on each output from the evaluator.',
    'Work out the task and the format of its inputs from the examples. From the outputs and the feedback, find what went wrong and what went right,',
    'and every piece of domain knowledge or rule the feedback reveals that the assistant could not know from its inputs alone; keep any strategy that worked.',
    'Write a new, complete, self-contained instruction that includes all of this. Answer with the instruction text only.',
  ].join(' '),
  {
    descriptions: {
      current_instruction: 'The instruction the assistant was given',
      examples_with_feedback: 'Inputs, the outputs the assistant produced, and the evaluator\'s feedback on each',
      new_instruction: 'The improved instruction, complete and self-contained',
    },
  },
);

function show(v: unknown): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v, null, 2) ?? String(v);
}

/** The reflective dataset as the text the reflection LM reads (Markdown sections per example). */
export function formatReflectionRecords(records: readonly ReflectionRecord[]): string {
  return records
    .map((r, i) => {
      const inputs = Object.entries(r.inputs)
        .map(([k, v]) => `#### ${k}\n${show(v)}`)
        .join('\n\n');
      const outputs = typeof r.outputs === 'string'
        ? r.outputs
        : Object.entries(r.outputs)
            .map(([k, v]) => `#### ${k}\n${show(v)}`)
            .join('\n\n');
      return `# Example ${i + 1}\n## Inputs\n${inputs}\n\n## Generated Outputs\n${outputs}\n\n## Feedback\n${r.feedback}`;
    })
    .join('\n\n');
}

/** Removes a fence or quotes an LM may wrap its instruction in. */
export function cleanInstruction(text: string): string {
  let t = text.trim();
  const fence = /^```[a-zA-Z]*\n([\s\S]*?)\n?```$/.exec(t);
  if (fence?.[1] !== undefined) t = fence[1].trim();
  if (t.length >= 2 && ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'")))) t = t.slice(1, -1).trim();
  return t;
}

export interface ProposeArgs {
  currentInstruction: string;
  records: readonly ReflectionRecord[];
  lm: LM | undefined;
  /** A distinct rollout per iteration: the same reflection asked twice in one run is a new sample. */
  rolloutId: string;
}

/** Asks the reflection LM for a new instruction; returns it cleaned ('' when it gave none). */
export async function proposeFromReflection(args: ProposeArgs): Promise<string> {
  const predict = new Predict(REFLECTION_SIGNATURE, args.lm ? { lm: args.lm } : {});
  const out = await settings.context({ rolloutId: args.rolloutId }, () =>
    predict.call({
      current_instruction: args.currentInstruction,
      examples_with_feedback: formatReflectionRecords(args.records),
    }),
  );
  const v = out.get('new_instruction');
  return typeof v === 'string' ? cleanInstruction(v) : '';
}

export { REFLECTION_SIGNATURE };
