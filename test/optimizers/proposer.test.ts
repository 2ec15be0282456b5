// MIPROv2's grounded proposer as DSPy's GroundedProposer: the dataset summary batch by batch,
// what grounds a proposal, and a stand-in LM's placeholders never taken as answers.
import { describe, expect, it } from 'vitest';
import { Example, settings, Signature } from '../../src/dspy/index.js';
import type { ChatMessage } from '../../src/lm/types.js';
import { describeProgram, proposeInstruction, summarizeDataset, TIPS } from '../../src/optimizers/index.js';
import { isStandInAnswer, pickTip, summaryCallCount } from '../../src/optimizers/proposer.js';
import { Rng } from '../../src/util/rng.js';
import { Nested, qa, scripted } from './helpers.js';

const last = (m: ChatMessage[]) => m[m.length - 1]!.content;

describe('summarizeDataset', () => {
  it('reads the trainset in batches (at most 3), then summarizes the observations', async () => {
    const { lm, requests } = scripted((f) => (f === 'summary' ? 'Numbered questions.' : 'obs'));
    const summary = await summarizeDataset(qa(25), { lm, batchSize: 10 });
    expect(summary).toBe('Numbered questions.');
    expect(requests).toHaveLength(summaryCallCount(25, 10));
    expect(requests).toHaveLength(4); // 3 batches + the summary
    expect(last(requests[0]!)).toContain('Q000?');
    expect(last(requests[0]!)).not.toContain('Q010?');
    expect(last(requests[1]!)).toContain('Q010?');
    expect(last(requests[1]!)).not.toContain('Q009?');
    expect(last(requests[1]!)).not.toContain('Q020?');
    // One example a line, as JSON.
    expect(last(requests[0]!)).toContain('{"question":"Q000?","answer":"A0"}\n{"question":"Q001?","answer":"A1"}\n');
    expect(last(requests[1]!)).toContain('obs'); // the prior observations
    // The summary sees every batch's observations, one batch a line.
    expect(last(requests[3]!)).toContain('obs\nobs\nobs');
    const many = scripted((f) => (f === 'summary' ? 's' : 'obs'));
    await summarizeDataset(qa(100), { lm: many.lm, batchSize: 10 });
    expect(many.requests).toHaveLength(4);
  });

  it("asks the prompt model at DSPy's temperature 1.0, each call its own rollout (a fresh sample, not a cache hit)", async () => {
    const { lm, options } = scripted(() => 'obs');
    await summarizeDataset(qa(25), { lm, batchSize: 10 });
    expect(options.map((o) => [o.rolloutId, o.temperature])).toEqual([
      ['mipro-data-0', 1],
      ['mipro-data-1', 1],
      ['mipro-data-2', 1],
      ['mipro-data-summary', 1],
    ]);
  });

  it('stops reading batches once the LM says COMPLETE', async () => {
    let n = 0;
    const { lm, requests } = scripted((f) => (f === 'summary' ? 's' : n++ === 0 ? 'first' : 'COMPLETE'));
    await summarizeDataset(qa(30), { lm, batchSize: 10 });
    expect(requests).toHaveLength(3); // batch 1, batch 2 (COMPLETE), summary
    expect(last(requests[2]!)).not.toContain('COMPLETE');
    // Leading blanks do not hide it.
    let k = 0;
    const padded = scripted((f) => (f === 'summary' ? 's' : k++ === 0 ? 'first' : '  COMPLETE'));
    await summarizeDataset(qa(30), { lm: padded.lm, batchSize: 10 });
    expect(padded.requests).toHaveLength(3);
    // Any case, as DSPy compares upper-cased.
    let m = 0;
    const lower = scripted((f) => (f === 'summary' ? 's' : m++ === 0 ? 'first' : 'complete, nothing to add'));
    await summarizeDataset(qa(30), { lm: lower.lm, batchSize: 10 });
    expect(lower.requests).toHaveLength(3);
    expect(last(lower.requests[2]!)).toContain('first');
    expect(last(lower.requests[2]!)).not.toContain('nothing to add');
  });

  it('an empty trainset needs no call; a stand-in placeholder is no summary', async () => {
    const { lm, requests } = scripted(() => 'x');
    expect(await summarizeDataset([], { lm, batchSize: 10 })).toBe('');
    expect(requests).toHaveLength(0);
    const stand = scripted((f) => `${f}-0123abcd`);
    expect(await summarizeDataset(qa(3), { lm: stand.lm, batchSize: 10 })).toBe('');
    expect(summaryCallCount(0, 10)).toBe(0);
    expect(summaryCallCount(5, 10)).toBe(2);
  });
});

describe('proposeInstruction', () => {
  const base = {
    datasetSummary: 'Numbered questions.',
    programStructure: 'first.predict: question -> answer',
    path: 'first.predict',
    signature: Signature.parse('question -> answer', 'Answer it.'),
    demos: [
      ...qa(6).map((e) => new Example({ ...e.toDict(), augmented: true })),
    ],
    previous: ['Be brief.', 'Be exact.'],
    tipKey: 'persona',
    rolloutId: 'r',
    temperature: 1,
    dataAware: true,
    programAware: true,
    fewshotAware: true,
  };

  it('grounds the request in the summary, structure, up to 5 demos, earlier proposals, the instruction and the tip', async () => {
    const { lm, requests } = scripted(() => '  Answer with the number.  ');
    expect(await proposeInstruction({ ...base, lm })).toBe('Answer with the number.');
    const text = last(requests[0]!);
    expect(text).toContain('Numbered questions.');
    expect(text).toContain('first.predict: question -> answer');
    expect(text).toContain('Example 5: {');
    expect(text).not.toContain('Example 6:');
    expect(text).not.toContain('augmented');
    expect(text).toContain('1. Be brief.\n2. Be exact.');
    expect(text).toContain('Answer it.');
    expect(text).toContain(TIPS['persona']!);
  });

  it('asks at the given temperature under its own rollout id, with the given prompt model or else the configured LM', async () => {
    const { lm, options } = scripted(() => 'Go.');
    await proposeInstruction({ ...base, lm, temperature: 0.7, rolloutId: 'mipro-propose-x-1' });
    expect(options[0]).toMatchObject({ temperature: 0.7, rolloutId: 'mipro-propose-x-1' });
    const configured = scripted(() => 'From the configured LM.');
    settings.configure({ lm: configured.lm });
    try {
      expect(await proposeInstruction({ ...base, lm: undefined })).toBe('From the configured LM.');
    } finally {
      settings.reset();
    }
  });

  it('without groundings or history, says so', async () => {
    const { lm, requests } = scripted(() => 'Go.');
    await proposeInstruction({ ...base, lm, dataAware: false, programAware: false, fewshotAware: false, previous: [], tipKey: 'none' });
    const text = last(requests[0]!);
    expect(text).toContain('[[ ## dataset_description ## ]]\nNot available.');
    expect(text).toContain('[[ ## program_structure ## ]]\nNot available.');
    expect(text).toContain('[[ ## task_demos ## ]]\nNo task demos provided.');
    expect(text).toContain('[[ ## previous_instructions ## ]]\nNone.');
    expect(text).toContain('[[ ## tip ## ]]\nNone.');
    const empty = scripted(() => 'Go.');
    await proposeInstruction({ ...base, lm: empty.lm, datasetSummary: '', demos: [] });
    expect(last(empty.requests[0]!)).toContain('[[ ## dataset_description ## ]]\nNot available.');
    expect(last(empty.requests[0]!)).toContain('[[ ## task_demos ## ]]\nNo task demos provided.');
  });

  it('a stand-in placeholder is no proposal', async () => {
    const { lm } = scripted((f) => `${f}-89abcdef`);
    expect(await proposeInstruction({ ...base, lm })).toBe('');
    expect(isStandInAnswer('proposed_instruction', ' proposed_instruction-89abcdef ')).toBe(true);
    expect(isStandInAnswer('proposed_instruction', 'proposed_instruction-89abcdef and more')).toBe(false);
    expect(isStandInAnswer('proposed_instruction', 'xproposed_instruction-89abcdef')).toBe(false);
  });
});

describe('program structure and tips', () => {
  it('lists every predictor with its path, signature and instructions, in program order', () => {
    const text = describeProgram(new Nested());
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^first\.predict: question -> answer$/);
    expect(lines[1]).toMatch(/^ {2}instructions: /);
    expect(lines[2]).toMatch(/^steps\[0\]: answer -> summary$/);
  });

  it('picks tips from DSPy\'s list, seeded', () => {
    const picks = Array.from({ length: 40 }, (_, i) => pickTip(new Rng(i)));
    expect(picks.every((k) => k in TIPS)).toBe(true);
    expect(new Set(picks).size).toBe(Object.keys(TIPS).length);
    expect(pickTip(new Rng(5))).toBe(pickTip(new Rng(5)));
  });
});
