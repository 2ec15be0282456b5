// A synthetic task whose best score is known and where the instruction matters: the quality
// benchmark for instruction optimizers (GEPA, MIPROv2), also used by their tests.
//
// Every example belongs to one of K categories; each category has a hidden rule. The simulated
// task LM answers an example right exactly when the prompt it receives teaches that category's
// rule: the instruction states it, or a demo of the same category is in the prompt. So the
// optimum is 100% (every rule in the instruction), and an optimizer gets there only by writing
// what the data and the feedback reveal into the instruction (or by picking demos that cover
// every category).
//
// The metric returns {score, feedback}: a wrong answer's feedback states the category's rule,
// as a real evaluator's feedback would say what was missed. The simulated reflection LM writes
// the rules it reads in the feedback into the instruction; the simulated proposer LM (MIPROv2's
// prompt model, which sees demos but no feedback) adds the rule of each category its demos show
// with a fair coin (seeded by the prompt), since a real proposer infers rules from examples
// only sometimes.
//
// Dependency-free on purpose: the bench (plain Node over dist/) and the vitest suites (over the
// TypeScript sources) both use it; the LMs speak the chat adapter's text format themselves.

import { createHash } from 'node:crypto';

export const RULE_PREFIX = 'Rule for category';

/** The rule text of category c (what must appear in a prompt for the LM to answer it right). */
export function ruleText(c) {
  return `${RULE_PREFIX} ${c}: multiply the number by ${c + 2}.`;
}

/** The right answer of item n of category c. */
export function rightAnswer(c, n) {
  return String(n * (c + 2));
}

/** `count` examples as plain objects {question, answer} (deterministic). */
export function rulesData(count, { categories = 6, offset = 0 } = {}) {
  return Array.from({ length: count }, (_, i) => {
    const k = i + offset;
    const c = k % categories;
    const n = 3 + ((k * 7) % 41);
    return { question: `category ${c}: item ${n}`, answer: rightAnswer(c, n) };
  });
}

function hash01(text) {
  return createHash('sha256').update(text).digest().readUInt32LE(0) / 2 ** 32;
}

function field(text, name) {
  const re = new RegExp(`\\[\\[ ## ${name} ## \\]\\]\\n([\\s\\S]*?)(?=\\n\\n\\[\\[ ## |$)`);
  const all = [...text.matchAll(new RegExp(re.source, 'g'))];
  const last = all[all.length - 1];
  return last ? last[1].trim() : undefined;
}

function answer(fields) {
  const blocks = Object.entries(fields).map(([k, v]) => `[[ ## ${k} ## ]]\n${v}`);
  return `${blocks.join('\n\n')}\n\n[[ ## completed ## ]]`;
}

function response(text, model, messages) {
  const inputTokens = Math.ceil(messages.reduce((a, m) => a + m.content.length, 0) / 4);
  return { text, usage: { inputTokens, outputTokens: Math.ceil(text.length / 4) }, model, cached: false, costUsd: 0 };
}

/** Categories whose rule a prompt teaches: stated in the system message, or shown by a demo. */
function taughtCategories(messages) {
  const taught = new Set();
  const system = messages.find((m) => m.role === 'system')?.content ?? '';
  for (const m of system.matchAll(/Rule for category (\d+): multiply the number by (\d+)\./g)) {
    if (Number(m[2]) === Number(m[1]) + 2) taught.add(Number(m[1]));
  }
  // Demos: a user message with a category question followed by an assistant answer.
  for (let i = 0; i + 1 < messages.length - 1; i++) {
    const q = /category (\d+): item (\d+)/.exec(messages[i].content);
    if (messages[i].role === 'user' && messages[i + 1].role === 'assistant' && q) {
      const a = field(messages[i + 1].content, 'answer');
      if (a === rightAnswer(Number(q[1]), Number(q[2]))) taught.add(Number(q[1]));
    }
  }
  return taught;
}

/** The output field names the system message asks for (the chat adapter's field list). */
function outputFieldNames(system) {
  const part = /Your output fields are:\n([\s\S]*?)\nAll interactions/.exec(system)?.[1] ?? '';
  const names = [...part.matchAll(/^\d+\. `(\w+)`/gm)].map((m) => m[1]);
  return names.length ? names : ['answer'];
}

/** The task LM: right exactly on the categories the prompt teaches (every output field gets the answer). */
export function rulesTaskLM({ model = 'rules-task', onCall } = {}) {
  return {
    provider: 'simulated',
    model,
    async generate(messages) {
      onCall?.('task');
      const names = outputFieldNames(messages[0]?.content ?? '');
      const last = messages[messages.length - 1].content;
      const q = /category (\d+): item (\d+)/.exec(last);
      let value = 'unknown';
      if (q) {
        const c = Number(q[1]);
        const n = Number(q[2]);
        value = taughtCategories(messages).has(c) ? rightAnswer(c, n) : String(n);
      }
      return response(answer(Object.fromEntries(names.map((k) => [k, value]))), model, messages);
    },
  };
}

/** The metric with feedback: a wrong answer is told its category's rule. */
export function rulesMetric(example, prediction) {
  const got = String(prediction.get ? prediction.get('answer') : prediction.answer).trim();
  const want = String(example.get ? example.get('answer') : example.answer);
  const q = /category (\d+):/.exec(String(example.get ? example.get('question') : example.question));
  if (got === want) return { score: 1, feedback: 'The answer is correct.' };
  const c = q ? Number(q[1]) : -1;
  return { score: 0, feedback: `The answer ${JSON.stringify(got)} is wrong; expected ${want}. ${c >= 0 ? ruleText(c) : ''}`.trim() };
}

/**
 * The reflection / proposer LM. As reflection LM (GEPA's signature: current_instruction,
 * examples_with_feedback -> new_instruction) it adds every rule the feedback states. As
 * MIPROv2's proposer (-> proposed_instruction) it adds the rule of each demo category it sees
 * with a fair coin seeded by the prompt. Anything else (dataset summaries) gets a short text.
 */
export function rulesPromptLM({ model = 'rules-prompt', onCall } = {}) {
  return {
    provider: 'simulated',
    model,
    async generate(messages) {
      onCall?.('prompt');
      const system = messages[0]?.content ?? '';
      const last = messages[messages.length - 1].content;
      const outputs = [...system.matchAll(/\d+\. `(\w+)`/g)].map((m) => m[1]);
      if (/new_instruction/.test(system)) {
        const current = field(last, 'current_instruction') ?? '';
        const fb = field(last, 'examples_with_feedback') ?? '';
        const rules = new Set([...fb.matchAll(/Rule for category \d+: multiply the number by \d+\./g)].map((m) => m[0]));
        const missing = [...rules].filter((r) => !current.includes(r)).sort();
        return response(answer({ new_instruction: [current, ...missing].join(' ').trim() }), model, messages);
      }
      if (/proposed_instruction/.test(system)) {
        const seen = new Set([...last.matchAll(/category (\d+): item/g)].map((m) => Number(m[1])));
        const base = 'Answer the question about the item.';
        const rules = [...seen].sort((a, b) => a - b).filter((c) => hash01(`${last}|${c}`) < 0.5).map(ruleText);
        return response(answer({ proposed_instruction: [base, ...rules].join(' ') }), model, messages);
      }
      const name = outputs[outputs.length - 1] ?? 'observations';
      return response(answer({ [name]: 'Questions name a category and an item number; answers are numbers.' }), model, messages);
    },
  };
}
