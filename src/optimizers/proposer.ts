/**
 * MIPROv2's grounded instruction proposer (DSPy's `GroundedProposer`): a dataset summary
 * written by the prompt model from a few batches of training examples, the program's
 * structure (predictor paths and signatures), a predictor's demos and a random tip from DSPy's
 * tip list ground each proposed instruction. Every LM call goes through a `Predict` with a
 * proper signature, so any LM (DummyLM included) can answer it.
 */
import { Predict, Signature, settings, type Example, type Module } from '../dspy/index.js';
import type { LM } from '../lm/types.js';
import type { Rng } from '../util/rng.js';

/** DSPy's TIPS, same keys and wording. */
export const TIPS: Readonly<Record<string, string>> = Object.freeze({
  none: '',
  creative: "Don't be afraid to be creative when creating the new instruction!",
  simple: 'Keep the instruction clear and concise.',
  description: 'Make sure your instruction is very informative and descriptive.',
  high_stakes: 'The instruction should include a high stakes scenario in which the LM must solve the task!',
  persona: 'Include a persona that is relevant to the task in the instruction (ie. "You are a ...")',
});

// DSPy spells it "conciseness" here and "conciceness" in the next one; both kept as DSPy sends them.
const DATASET_DESCRIPTOR = Signature.parse(
  'examples -> observations',
  'Given several examples from a dataset please write observations about trends that hold for most or all of the samples. ' +
    'Some areas you may consider in your observations: topics, content, syntax, conciseness, etc. ' +
    "It will be useful to make an educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative",
  {
    descriptions: {
      examples: 'Sample data points from the dataset',
      observations: 'Somethings that holds true for most or all of the data you observed',
    },
  },
);

const DATASET_DESCRIPTOR_WITH_PRIOR = Signature.parse(
  'examples, prior_observations -> observations',
  'Given several examples from a dataset please write observations about trends that hold for most or all of the samples. ' +
    "I will also provide you with a few observations I have already made.  Please add your own observations or if you feel the observations are comprehensive say 'COMPLETE' " +
    'Some areas you may consider in your observations: topics, content, syntax, conciceness, etc. ' +
    "It will be useful to make an educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative",
  {
    descriptions: {
      examples: 'Sample data points from the dataset',
      prior_observations: 'Some prior observations I made about the data',
      observations: 'Somethings that holds true for most or all of the data you observed or COMPLETE if you have nothing to add',
    },
  },
);

const OBSERVATION_SUMMARIZER = Signature.parse(
  'observations -> summary',
  'Given a series of observations I have made about my dataset, please summarize them into a brief 2-3 sentence summary which highlights only the most important details.',
  {
    descriptions: {
      observations: 'Observations I have made about my dataset',
      summary: 'Two to Three sentence summary of only the most significant highlights of my observations',
    },
  },
);

const GENERATE_INSTRUCTION = Signature.parse(
  'dataset_description, program_structure, module, task_demos, previous_instructions, basic_instruction, tip -> proposed_instruction',
  'Use the information below to learn about a task that we are trying to solve using calls to an LM, then generate a new instruction that will be used to prompt a Language Model to better solve the task.',
  {
    descriptions: {
      dataset_description: 'A description of the dataset that we are using.',
      program_structure: 'The predictors of the program, each with its path and signature, in the order the program holds them.',
      module: 'The module to create an instruction for.',
      task_demos: 'Example inputs/outputs of our module.',
      previous_instructions: 'Previous instructions we have attempted for this module.',
      basic_instruction: 'Basic instruction.',
      tip: 'A suggestion for how to go about generating the new instruction.',
      proposed_instruction: 'Propose an instruction that will be used to prompt a Language Model to perform this task.',
    },
  },
);

/** How many summary batches at most (DSPy stops after repeated COMPLETE answers; we cap calls). */
export const MAX_SUMMARY_BATCHES = 3;

export function summaryCallCount(trainsetSize: number, batchSize: number): number {
  if (trainsetSize === 0) return 0;
  return Math.min(MAX_SUMMARY_BATCHES, Math.ceil(trainsetSize / batchSize)) + 1;
}

/**
 * What an offline stand-in LM (DummyLM) answers for a text field it knows nothing about: the
 * field's name and 8 hex digits. Such an answer is not an instruction or a summary; the
 * proposer treats it as no answer, so no placeholder ever reaches a written config.
 */
export function isStandInAnswer(field: string, text: string): boolean {
  return new RegExp(`^${field}-[0-9a-f]{8}$`).test(text.trim());
}

function realAnswer(field: string, value: unknown): string {
  const text = String(value ?? '').trim();
  return isStandInAnswer(field, text) ? '' : text;
}

function exampleText(e: Example): string {
  return JSON.stringify(e.toDict());
}

function promptCall<T>(lm: LM | undefined, rolloutId: string, temperature: number, fn: () => Promise<T>): Promise<T> {
  return settings.context({ ...(lm ? { lm } : {}), rolloutId, temperature }, fn);
}

/** DSPy's dataset-summary calls run at temperature 1.0 (its `Predict(..., temperature=1.0)`). */
const SUMMARY_TEMPERATURE = 1.0;

/** DSPy's `create_dataset_summary`: observations batch by batch, then a 2-3 sentence summary. */
export async function summarizeDataset(trainset: readonly Example[], opts: { lm: LM | undefined; batchSize: number }): Promise<string> {
  if (trainset.length === 0) return '';
  const batches = Math.min(MAX_SUMMARY_BATCHES, Math.ceil(trainset.length / opts.batchSize));
  let observations = '';
  for (let b = 0; b < batches; b++) {
    const examples = trainset.slice(b * opts.batchSize, (b + 1) * opts.batchSize).map(exampleText).join('\n');
    if (b === 0) {
      const out = await promptCall(opts.lm, `mipro-data-${b}`, SUMMARY_TEMPERATURE, () => new Predict(DATASET_DESCRIPTOR).call({ examples }));
      observations = String(out.get('observations') ?? '');
    } else {
      const out = await promptCall(opts.lm, `mipro-data-${b}`, SUMMARY_TEMPERATURE, () =>
        new Predict(DATASET_DESCRIPTOR_WITH_PRIOR).call({ examples, prior_observations: observations }),
      );
      const more = String(out.get('observations') ?? '');
      if (more.trim().toUpperCase().startsWith('COMPLETE')) break;
      observations += `\n${more}`;
    }
  }
  const out = await promptCall(opts.lm, 'mipro-data-summary', SUMMARY_TEMPERATURE, () => new Predict(OBSERVATION_SUMMARIZER).call({ observations }));
  return realAnswer('summary', out.get('summary'));
}

/** The program's structure as the proposer sees it. */
export function describeProgram(program: Module): string {
  return program
    .namedPredictors()
    .map(([path, p]) => `${path}: ${p.signature.toString()}\n  instructions: ${p.signature.instructions}`)
    .join('\n');
}

function formatDemos(demos: readonly Example[], max: number): string {
  if (demos.length === 0) return 'No task demos provided.';
  return demos
    .slice(0, max)
    .map((d, i) => `Example ${i + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(d.toDict()).filter(([k]) => k !== 'augmented')))}`)
    .join('\n');
}

export interface ProposeArgs {
  lm: LM | undefined;
  datasetSummary: string;
  programStructure: string;
  path: string;
  signature: Signature;
  demos: readonly Example[];
  previous: readonly string[];
  tipKey: string;
  rolloutId: string;
  temperature: number;
  /** Which groundings to include (DSPy's *_aware flags). */
  dataAware: boolean;
  programAware: boolean;
  fewshotAware: boolean;
}

/**
 * One proposed instruction (trimmed), or '' when the LM gave none (an offline stand-in's
 * placeholder counts as none: the caller keeps the original instruction); throws what the LM
 * or adapter throws.
 */
export async function proposeInstruction(a: ProposeArgs): Promise<string> {
  const inputs = {
    dataset_description: a.dataAware ? a.datasetSummary || 'Not available.' : 'Not available.',
    program_structure: a.programAware ? a.programStructure : 'Not available.',
    module: `${a.path}: ${a.signature.toString()}`,
    task_demos: a.fewshotAware ? formatDemos(a.demos, 5) : 'No task demos provided.',
    previous_instructions: a.previous.length ? a.previous.map((p, i) => `${i + 1}. ${p}`).join('\n') : 'None.',
    basic_instruction: a.signature.instructions,
    tip: TIPS[a.tipKey] || 'None.',
  };
  const out = await promptCall(a.lm, a.rolloutId, a.temperature, () => new Predict(GENERATE_INSTRUCTION).call(inputs));
  return realAnswer('proposed_instruction', out.get('proposed_instruction'));
}

export function pickTip(rng: Rng): string {
  return rng.choice(Object.keys(TIPS));
}
