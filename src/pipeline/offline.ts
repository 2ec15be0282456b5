/**
 * Reading a rendered step prompt back (the inverse of render.ts), and an offline LM that
 * answers pipeline prompts from the worked examples they carry.
 *
 * Why: DSPy's follow-the-demos dummy LM matches demos that are separate user/assistant
 * messages, but a pipeline step sends its whole prompt, demos included, as one user message.
 * `PipelineDemoLM` makes offline optimization of pipelines show the machinery working: with
 * no demos in the prompt it gives the fallback answer (DummyLM's, or "{}"); with demos it
 * answers with the output of the demo whose inputs equal the current ones, else of the most
 * similar demo (Dice overlap of the input tokens, ties to the earliest). Offline scores say
 * nothing about model quality.
 */
import { offlineResponse } from '../lm/offline_response.js';
import type { ChatMessage, GenerateOptions, LM, LMResponse } from '../lm/types.js';
import { dice, tokens } from './metrics/findings_f1.js';

export interface RenderedDemo {
  inputs: Record<string, string>;
  output: string;
}

export interface ParsedPrompt {
  /** Text before the first example / input section. */
  instructions: string;
  examples: RenderedDemo[];
  /** The current input sections (`### Input`, or trailing `[[ ## f ## ]]` sections of other parts). */
  inputs: Record<string, string>;
}

const HEADER = /^\[\[ ## (\w+) ## \]\]$/;

/** `[[ ## f ## ]]` sections of a block of lines: field -> value (first occurrence wins). */
function sections(lines: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  let current: string | undefined;
  let buf: string[] = [];
  const flush = () => {
    if (current !== undefined && !(current in out)) out[current] = buf.join('\n').trim();
  };
  for (const line of lines) {
    const m = HEADER.exec(line.trim());
    if (m) {
      flush();
      current = m[1];
      buf = [];
    } else if (current !== undefined) buf.push(line);
  }
  flush();
  return out;
}

/** The end of a JSON value that starts at `text[0]`, or -1. */
function jsonEnd(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

export function parseRenderedPrompt(text: string): ParsedPrompt {
  const chunks = text.split(/^### Example \d+$/m);
  const instructions = (chunks[0] ?? '').trim();
  const examples: RenderedDemo[] = [];
  let rest = '';
  for (const chunk of chunks.slice(1)) {
    const at = chunk.search(/^Output:$/m);
    if (at < 0) continue;
    const inputs = sections(chunk.slice(0, at).split('\n'));
    const after = chunk.slice(at).replace(/^Output:\n?/, '');
    let output: string;
    let tail: string;
    const trimmed = after.trimStart();
    const end = trimmed.startsWith('{') || trimmed.startsWith('[') ? jsonEnd(trimmed) : -1;
    if (end > 0) {
      output = trimmed.slice(0, end);
      tail = trimmed.slice(end);
    } else {
      const stop = after.search(/\n(?=### Input$|\[\[ ## \w+ ## \]\]$)/m);
      output = (stop < 0 ? after : after.slice(0, stop)).trim();
      tail = stop < 0 ? '' : after.slice(stop);
    }
    examples.push({ inputs, output });
    rest = tail;
  }
  if (chunks.length === 1) rest = text;
  const inputAt = rest.search(/^### Input$/m);
  const inputs = sections((inputAt >= 0 ? rest.slice(inputAt) : rest).split('\n'));
  return { instructions, examples, inputs };
}

function inputTokens(inputs: Record<string, string>): Set<string> {
  return tokens(Object.keys(inputs).sort().map((k) => `${k} ${inputs[k]}`).join(' '));
}

/**
 * The output of the demo matching the prompt's current inputs (exactly, else the most
 * similar), or undefined when the prompt carries no demos.
 */
export function answerFromDemos(prompt: string): string | undefined {
  const parsed = parseRenderedPrompt(prompt);
  if (parsed.examples.length === 0) return undefined;
  const target = JSON.stringify(Object.entries(parsed.inputs).sort());
  const exact = parsed.examples.find((e) => JSON.stringify(Object.entries(e.inputs).sort()) === target);
  if (exact) return exact.output;
  const want = inputTokens(parsed.inputs);
  let best = parsed.examples[0]!;
  let bestScore = -1;
  for (const e of parsed.examples) {
    const s = dice(want, inputTokens(e.inputs));
    if (s > bestScore) {
      best = e;
      bestScore = s;
    }
  }
  return best.output;
}

/** An offline LM for pipeline prompts: answers from the prompt's demos, else from `fallback`. */
export class PipelineDemoLM implements LM {
  readonly provider = 'dummy';
  readonly model: string;
  calls = 0;

  constructor(readonly fallback?: LM, model = 'pipeline-demos') {
    this.model = model;
  }

  async generate(messages: ChatMessage[], options?: GenerateOptions): Promise<LMResponse> {
    options?.signal?.throwIfAborted();
    this.calls++;
    const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const answer = answerFromDemos(last);
    if (answer === undefined && this.fallback) return this.fallback.generate(messages, options);
    const text = answer ?? '{}';
    return offlineResponse(this.model, messages, text);
  }
}
