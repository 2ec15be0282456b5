// DSPy's DummyLM (dspy.utils.dummies): the class below says how it answers.
import { ElexirionError } from '../errors.js';
import { pyStr } from './adapter.js';
import { splitSections } from './chat_adapter.js';
import { parseTypeString, type TypeSpec } from './field_types.js';
import { pyJsonDumps } from './json_text.js';
import { sha256Hex } from '../util/canonical_json.js';
import { sleep } from '../util/sleep.js';
import { offlineResponse } from '../lm/offline_response.js';
import type { ChatMessage, GenerateOptions, LM, LMResponse } from '../lm/types.js';

/** A scripted answer: the raw completion text, or output fields rendered in the ChatAdapter format. */
export type DummyAnswer = string | Record<string, unknown>;

/** Options every DummyLM mode takes. */
export interface DummyLMOptions {
  /** Fixed delay before each answer (ms); 0 (default) answers on the next microtask. */
  latencyMs?: number;
  /** The model name reported in responses and usage (default `dummy`). */
  model?: string;
  /** How many calls `history` keeps (default 100). */
  historyLimit?: number;
}

/** One call a DummyLM answered, as kept in its `history`. */
export interface DummyCall {
  messages: ChatMessage[];
  options: GenerateOptions | undefined;
  text: string;
}

/** The config form of `new DummyLM(...)` (what `createLM('dummy' | 'offline')` passes). */
export interface DummyLMConfig extends DummyLMOptions {
  /** `follow-demos` (default without answers; `follow` is an alias), `ordered` (answers is a list) or `substring` (answers is a map). */
  mode?: 'follow-demos' | 'follow' | 'ordered' | 'substring';
  /** A list (ordered mode) or a map from substring to answer (substring mode). */
  answers?: DummyAnswer[] | Record<string, DummyAnswer>;
}

/** A DummyLM that cannot answer: a bad config, answers run out, or no substring matched. */
export class DummyLMError extends ElexirionError {
  override readonly code: string = 'DUMMY_LM_ERROR';
  override name = 'DummyLMError';
}

type Mode =
  | { kind: 'ordered'; answers: string[] }
  | { kind: 'substring'; entries: Array<[string, string]> }
  | { kind: 'follow' };

const MISSING = 'Not supplied for this particular example.';
const REQUEST_RE = /\n\n(Respond with the corresponding output fields|Respond with a JSON object)[\s\S]*$/;
const OUTPUT_LINE_RE = /^\d+\. `(\w+)` \(([^)]*)\)/;

/** Render an answer Record in the ChatAdapter's output format (`[[ ## f ## ]]` blocks, then `completed`). */
export function renderChatAnswer(answer: DummyAnswer): string {
  if (typeof answer === 'string') return answer;
  const blocks = Object.entries(answer).map(([k, v]) => `[[ ## ${k} ## ]]\n${pyStr(v)}`);
  return `${blocks.join('\n\n')}\n\n[[ ## completed ## ]]`;
}

/**
 * DummyLM: a deterministic offline LM with DSPy's three modes.
 *
 * - **ordered** (`new DummyLM([a1, a2, ...])`, `DummyLM.ordered(...)`): answers returned in
 *   order; an answer is a raw string or a Record of output fields rendered in the ChatAdapter
 *   format. Running out is an error (DSPy returns "No more responses", which only surfaces
 *   later as a confusing parse error).
 * - **by substring** (`DummyLM.bySubstring({ 'capital of France': {answer: 'Paris'} })`): the
 *   first key found in the last message's content picks the answer; no match is an error.
 * - **follow the demos** (`new DummyLM()` / `DummyLM.followExamples()`): when the last user
 *   message's input fields equal those of a demo (a user message earlier in the same prompt),
 *   answer with that demo's assistant message (DSPy's `follow_examples`). Otherwise answer
 *   with deterministic placeholders for each output field listed in the system message
 *   ("Your output fields are: ..."). With h = sha256(field name + "\0" + JSON of the last user
 *   message's input fields sorted by name) and n = h's first 12 hex digits as an integer:
 *   str -> `<field>-<first 8 hex digits of h>`, int -> n mod 1000, float -> (n mod 10000) / 100,
 *   bool -> n odd, list[T] -> [one T placeholder], dict -> {}, Literal -> value n mod count.
 *   Structured (zod) types get a str placeholder, which will not validate: script those
 *   answers instead. Outputs an incomplete demo marks "Not supplied for this particular
 *   example." get placeholders too. The answer is JSON when the prompt asks for a JSON object
 *   (JSONAdapter), else in the chat format.
 *
 * Zero latency by default (`latencyMs` for benchmarks), counts calls, estimates usage as
 * characters / 4, provider `dummy`, model `dummy`.
 */
export class DummyLM implements LM {
  readonly provider = 'dummy';
  readonly model: string;
  /** Number of generate() calls so far. */
  calls = 0;
  /** The most recent calls (bounded by historyLimit). */
  readonly history: DummyCall[] = [];
  private readonly mode: Mode;
  private next = 0;
  private readonly latencyMs: number;
  private readonly historyLimit: number;

  /**
   * `new DummyLM()` follows the demos; `new DummyLM([a1, a2])` answers in order;
   * `new DummyLM({ answers: {substring: answer}, latencyMs })` picks by substring. The
   * config form is what `createLM('dummy' | 'offline', {dummy: {...}})` passes.
   */
  constructor(config: DummyAnswer[] | DummyLMConfig = {}, options: DummyLMOptions = {}) {
    const cfg: DummyLMConfig = Array.isArray(config) ? { ...options, answers: config } : { ...options, ...config };
    const { answers, mode } = cfg;
    if (mode !== undefined && !['follow-demos', 'follow', 'ordered', 'substring'].includes(mode)) {
      throw new DummyLMError(`DummyLM: unknown mode ${JSON.stringify(mode)} (expected follow-demos, ordered or substring)`);
    }
    if (answers === undefined) {
      if (mode === 'ordered' || mode === 'substring') throw new DummyLMError(`DummyLM: mode ${mode} needs answers`);
      this.mode = { kind: 'follow' };
    } else if (Array.isArray(answers)) {
      if (mode !== undefined && mode !== 'ordered') throw new DummyLMError(`DummyLM: a list of answers is for mode ordered, not ${mode}`);
      this.mode = { kind: 'ordered', answers: answers.map(renderChatAnswer) };
    } else {
      if (mode !== undefined && mode !== 'substring') throw new DummyLMError(`DummyLM: a map of answers is for mode substring, not ${mode}`);
      this.mode = { kind: 'substring', entries: Object.entries(answers).map(([k, v]) => [k, renderChatAnswer(v)]) };
    }
    this.latencyMs = Math.max(0, cfg.latencyMs ?? 0);
    this.model = cfg.model ?? 'dummy';
    this.historyLimit = cfg.historyLimit ?? 100;
  }

  /** Answers in the order given (DSPy's `DummyLM([...])`). */
  static ordered(answers: DummyAnswer[], options?: DummyLMOptions): DummyLM {
    return new DummyLM({ ...options, answers });
  }

  /** The first key found in the last message picks the answer (DSPy's dict form). */
  static bySubstring(answers: Record<string, DummyAnswer>, options?: DummyLMOptions): DummyLM {
    return new DummyLM({ ...options, answers });
  }

  /** Follows the demos in the prompt, else deterministic placeholders (DSPy's `follow_examples`). */
  static followExamples(options?: DummyLMOptions): DummyLM {
    return new DummyLM({ ...options, mode: 'follow-demos' });
  }

  /** Which of the three modes this LM answers in. */
  get modeName(): 'ordered' | 'substring' | 'follow' {
    return this.mode.kind;
  }

  /** Answers one prompt (honours `options.signal`; usage is estimated as characters / 4). */
  async generate(messages: ChatMessage[], options?: GenerateOptions): Promise<LMResponse> {
    options?.signal?.throwIfAborted();
    this.calls++;
    const text = this.answer(messages);
    if (this.latencyMs > 0) await sleep(this.latencyMs, options?.signal);
    if (this.historyLimit > 0) {
      if (this.history.length >= this.historyLimit) this.history.shift();
      this.history.push({ messages, options, text });
    }
    return offlineResponse(this.model, messages, text);
  }

  private answer(messages: ChatMessage[]): string {
    const last = messages[messages.length - 1]?.content ?? '';
    switch (this.mode.kind) {
      case 'ordered': {
        const a = this.mode.answers[this.next];
        if (a === undefined) throw new DummyLMError(`DummyLM: no more answers (all ${this.mode.answers.length} used)`);
        this.next++;
        return a;
      }
      case 'substring': {
        for (const [k, a] of this.mode.entries) if (last.includes(k)) return a;
        throw new DummyLMError(`DummyLM: no answer key is a substring of the last message (keys: ${this.mode.entries.map(([k]) => JSON.stringify(k)).join(', ')})`);
      }
      case 'follow':
        return followExamples(messages);
    }
  }
}


/** Input sections of a user message (the trailing output request removed). */
function inputSections(content: string): Map<string, string> {
  return new Map(splitSections(content.replace(REQUEST_RE, '')));
}

function sameSections(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size || a.size === 0) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function outputFieldsOf(messages: ChatMessage[]): Array<{ name: string; type: string }> {
  const system = messages.find((m) => m.role === 'system')?.content ?? '';
  const at = system.indexOf('Your output fields are:\n');
  if (at < 0) return [];
  const out: Array<{ name: string; type: string }> = [];
  for (const line of system.slice(at + 'Your output fields are:\n'.length).split('\n')) {
    const m = OUTPUT_LINE_RE.exec(line);
    if (m) out.push({ name: m[1]!, type: m[2]! });
    else if (/^All interactions will be structured/.test(line)) break;
  }
  return out;
}

function placeholder(field: string, type: string, seed: string): unknown {
  const hex = sha256Hex(`${field}\0${seed}`);
  let spec: TypeSpec;
  try {
    spec = parseTypeString(type);
  } catch {
    spec = { kind: 'str' }; // a structured (zod) type: no way to invent a valid value here
  }
  return valueFor(field, spec, hex);
}

function valueFor(field: string, spec: TypeSpec, hex: string): unknown {
  const n = Number.parseInt(hex.slice(0, 12), 16);
  switch (spec.kind) {
    case 'int':
      return n % 1000;
    case 'float':
      return (n % 10000) / 100;
    case 'bool':
      return n % 2 === 1;
    case 'list':
      return [valueFor(field, spec.item ?? { kind: 'str' }, hex)];
    case 'dict':
      return {};
    case 'literal':
      return spec.values[n % spec.values.length];
    default:
      return `${field}-${hex.slice(0, 8)}`;
  }
}

function followExamples(messages: ChatMessage[]): string {
  const last = messages[messages.length - 1];
  const lastContent = last?.content ?? '';
  const json = (messages.find((m) => m.role === 'system')?.content ?? '').includes('Outputs will be a JSON object');
  const fields = outputFieldsOf(messages);
  const target = inputSections(lastContent);
  // Seeded by the input fields only, so chat and JSON prompts for the same inputs agree.
  const seed = JSON.stringify([...target].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const fill = (name: string) => placeholder(name, fields.find((f) => f.name === name)?.type ?? 'str', seed);

  for (let i = messages.length - 3; i >= 0; i--) {
    const m = messages[i]!;
    const reply = messages[i + 1]!;
    if (m.role !== 'user' || reply.role !== 'assistant') continue;
    if (!sameSections(inputSections(m.content), target)) continue;
    if (!reply.content.includes(MISSING)) return reply.content;
    // An incomplete demo: keep what it supplies, fill the rest.
    if (json) {
      try {
        const obj = JSON.parse(reply.content) as Record<string, unknown>;
        for (const [k, v] of Object.entries(obj)) if (typeof v === 'string' && v.trim() === MISSING) obj[k] = fill(k);
        return pyJsonDumps(obj, 2);
      } catch {
        return reply.content;
      }
    }
    const blocks = splitSections(reply.content)
      .filter(([k]) => k !== 'completed')
      .map(([k, v]) => `[[ ## ${k} ## ]]\n${v === MISSING ? pyStr(fill(k)) : v}`);
    return `${blocks.join('\n\n')}\n\n[[ ## completed ## ]]`;
  }

  const values: Record<string, unknown> = {};
  for (const f of fields) values[f.name] = fill(f.name);
  if (json) return pyJsonDumps(values, 2);
  return renderChatAnswer(values);
}
