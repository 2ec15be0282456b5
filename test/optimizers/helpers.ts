import { Example, Module, Predict, type Prediction } from '../../src/dspy/index.js';
import { DummyLM, renderChatAnswer } from '../../src/dspy/dummy_lm.js';
import { ManagedLM } from '../../src/lm/managed.js';
import type { ChatMessage, GenerateOptions, LM } from '../../src/lm/types.js';

export const question = (i: number) => `Q${String(i).padStart(3, '0')}?`;
export const answer = (i: number) => `A${i}`;

export function qa(n: number, from = 0): Example[] {
  return Array.from({ length: n }, (_, k) => new Example({ question: question(from + k), answer: answer(from + k) }).withInputs('question'));
}

export class QA extends Module {
  predict = new Predict('question -> answer');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.predict.call(inputs);
  }
}

/** Two levels: a sub-module and an array of predictors. */
export class Nested extends Module {
  first = new QA();
  steps = [new Predict('answer -> summary')];
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const a = await this.first.call(inputs);
    const s = await (this.steps[0] as Predict).call({ answer: a.get('answer') });
    return s.copy({ answer: a.get('answer') }) as Prediction;
  }
}

export const exact = (ex: Example, pred: Prediction) => pred.get('answer') === ex.get('answer');

/**
 * An LM that knows the answer to question i unless `wrong(i)`; metered (a ManagedLM) so
 * budgets apply. `latencyMs` for timing.
 */
export function oracle(
  n: number,
  opts: { wrong?: (i: number) => boolean; latencyMs?: number; needDemos?: number } = {},
): { lm: ManagedLM; dummy: DummyLM } {
  const table: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < n; i++) table[question(i)] = { answer: opts.wrong?.(i) ? `wrong-${i}` : answer(i) };
  const dummy = DummyLM.bySubstring(table, { latencyMs: opts.latencyMs ?? 0, historyLimit: 0 });
  const need = opts.needDemos;
  if (need) {
    // Answers right only when the prompt carries at least `need` demos: demos then matter.
    const gen = dummy.generate.bind(dummy);
    dummy.generate = async (messages, o) => {
      const r = await gen(messages, o);
      const demos = messages.filter((m) => m.role === 'assistant').length;
      return demos >= need ? r : { ...r, text: renderChatAnswer({ answer: 'no idea' }) };
    };
  }
  return { lm: new ManagedLM(dummy, { cache: false }), dummy };
}

export function followLM(): ManagedLM {
  return new ManagedLM(DummyLM.followExamples({ historyLimit: 0 }), { cache: false });
}

/**
 * An LM answering every output field of the request with `answer(field, messages)`; records
 * each request's messages and options.
 */
export function scripted(answer: (field: string, messages: ChatMessage[]) => string): { lm: LM; requests: ChatMessage[][]; options: GenerateOptions[] } {
  const requests: ChatMessage[][] = [];
  const options: GenerateOptions[] = [];
  const lm: LM = {
    provider: 'test',
    model: 'scripted',
    async generate(messages, o) {
      requests.push(messages);
      options.push(o ?? {});
      const system = messages[0]!.content;
      const outputs = ['observations', 'summary', 'proposed_instruction'].filter((f) => new RegExp(`Your output fields are:[\\s\\S]*\`${f}\``).test(system));
      const text = outputs.map((f) => `[[ ## ${f} ## ]]\n${answer(f, messages)}`).join('\n\n') + '\n\n[[ ## completed ## ]]';
      return { text, usage: { inputTokens: 0, outputTokens: 0 }, model: 'scripted', cached: false, costUsd: 0 };
    },
  };
  return { lm, requests, options };
}

/** Wraps `lm.generate` to record the most calls in flight at once (`peak()`; `reset()` starts over). */
export function trackInFlight(lm: Pick<DummyLM, 'generate'>): { peak(): number; reset(): void } {
  let inFlight = 0;
  let most = 0;
  const gen = lm.generate.bind(lm);
  lm.generate = async (m: ChatMessage[], o?: GenerateOptions) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    try {
      return await gen(m, o);
    } finally {
      inFlight -= 1;
    }
  };
  return { peak: () => most, reset: () => void (most = 0) };
}
