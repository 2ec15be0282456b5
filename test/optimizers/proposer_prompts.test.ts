// The proposer's prompts are behaviour: a user moving from DSPy expects MIPROv2 to ask the
// prompt model what DSPy's GroundedProposer asks. These golden texts are copied from
// stanfordnlp/dspy (dspy/propose/dataset_summary_generator.py: DatasetDescriptor,
// DatasetDescriptorWithPriorObservations, ObservationSummarizer; dspy/propose/grounded_proposer.py:
// TIPS and GenerateSingleModuleInstruction). Where this proposer differs from DSPy on purpose
// (a `program_structure` field in place of DSPy's LM-written program and module descriptions,
// and earlier proposals without scores), the text is ours and pinned here too.
import { describe, expect, it } from 'vitest';
import { Example, Signature } from '../../src/dspy/index.js';
import { proposeInstruction, summarizeDataset, TIPS } from '../../src/optimizers/proposer.js';
import { qa, scripted } from './helpers.js';

const DSPY = {
  datasetDescriptor:
    'Given several examples from a dataset please write observations about trends that hold for most or all of the samples. ' +
    'Some areas you may consider in your observations: topics, content, syntax, conciseness, etc. ' +
    "It will be useful to make an educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative",
  datasetDescriptorWithPrior:
    'Given several examples from a dataset please write observations about trends that hold for most or all of the samples. ' +
    "I will also provide you with a few observations I have already made.  Please add your own observations or if you feel the observations are comprehensive say 'COMPLETE' " +
    'Some areas you may consider in your observations: topics, content, syntax, conciceness, etc. ' +
    "It will be useful to make an educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative",
  observationSummarizer:
    'Given a series of observations I have made about my dataset, please summarize them into a brief 2-3 sentence summary which highlights only the most important details.',
  generateInstruction:
    'Use the information below to learn about a task that we are trying to solve using calls to an LM, then generate a new instruction that will be used to prompt a Language Model to better solve the task.',
  tips: {
    none: '',
    creative: "Don't be afraid to be creative when creating the new instruction!",
    simple: 'Keep the instruction clear and concise.',
    description: 'Make sure your instruction is very informative and descriptive.',
    high_stakes: 'The instruction should include a high stakes scenario in which the LM must solve the task!',
    persona: 'Include a persona that is relevant to the task in the instruction (ie. "You are a ...")',
  },
};

/** The field list and objective the chat adapter puts in the system message. */
function system(inputs: Array<[string, string]>, outputs: Array<[string, string]>, objective: string): string {
  const list = (fs: Array<[string, string]>) => fs.map(([name, desc], i) => `${i + 1}. \`${name}\` (str): ${desc}`).join('\n');
  const structure = [...inputs, ...outputs].map(([name]) => `[[ ## ${name} ## ]]\n{${name}}`).join('\n\n');
  return (
    `Your input fields are:\n${list(inputs)}\nYour output fields are:\n${list(outputs)}\n` +
    'All interactions will be structured in the following way, with the appropriate values filled in.\n\n' +
    `${structure}\n\n[[ ## completed ## ]]\nIn adhering to this structure, your objective is: \n        ${objective}`
  );
}

describe("the proposer's prompts (DSPy's wording)", () => {
  it('the dataset summary asks as DatasetDescriptor, DatasetDescriptorWithPriorObservations and ObservationSummarizer do', async () => {
    const { lm, requests } = scripted(() => 'Short questions.');
    await summarizeDataset(qa(12), { lm, batchSize: 10 });
    expect(requests).toHaveLength(3);
    expect(requests[0]![0]!.content).toBe(
      system(
        [['examples', 'Sample data points from the dataset']],
        [['observations', 'Somethings that holds true for most or all of the data you observed']],
        DSPY.datasetDescriptor,
      ),
    );
    expect(requests[1]![0]!.content).toBe(
      system(
        [
          ['examples', 'Sample data points from the dataset'],
          ['prior_observations', 'Some prior observations I made about the data'],
        ],
        [['observations', 'Somethings that holds true for most or all of the data you observed or COMPLETE if you have nothing to add']],
        DSPY.datasetDescriptorWithPrior,
      ),
    );
    expect(requests[2]![0]!.content).toBe(
      system(
        [['observations', 'Observations I have made about my dataset']],
        [['summary', 'Two to Three sentence summary of only the most significant highlights of my observations']],
        DSPY.observationSummarizer,
      ),
    );
  });

  it('an instruction proposal asks as GenerateSingleModuleInstruction does, with DSPy tips', async () => {
    expect(TIPS).toEqual(DSPY.tips);
    const { lm, requests } = scripted(() => 'Answer with the number.');
    await proposeInstruction({
      lm,
      datasetSummary: 'Numbered questions.',
      programStructure: 'predict: question -> answer',
      path: 'predict',
      signature: Signature.parse('question -> answer', 'Answer it.'),
      demos: [new Example({ question: 'Q1?', answer: 'A1', augmented: true })],
      previous: [],
      tipKey: 'simple',
      rolloutId: 'r',
      temperature: 1,
      dataAware: true,
      programAware: true,
      fewshotAware: true,
    });
    expect(requests[0]![0]!.content).toBe(
      system(
        [
          ['dataset_description', 'A description of the dataset that we are using.'],
          ['program_structure', 'The predictors of the program, each with its path and signature, in the order the program holds them.'],
          ['module', 'The module to create an instruction for.'],
          ['task_demos', 'Example inputs/outputs of our module.'],
          ['previous_instructions', 'Previous instructions we have attempted for this module.'],
          ['basic_instruction', 'Basic instruction.'],
          ['tip', 'A suggestion for how to go about generating the new instruction.'],
        ],
        [['proposed_instruction', 'Propose an instruction that will be used to prompt a Language Model to perform this task.']],
        DSPY.generateInstruction,
      ),
    );
    const user = requests[0]![1]!.content;
    expect(user).toContain('[[ ## module ## ]]\npredict: question -> answer\n');
    expect(user).toContain('[[ ## task_demos ## ]]\nExample 1: {"question":"Q1?","answer":"A1"}\n');
    expect(user).toContain('[[ ## basic_instruction ## ]]\nAnswer it.\n');
    expect(user).toContain(`[[ ## tip ## ]]\n${DSPY.tips.simple}\n`);
  });
});
