/**
 * LM call history, as DSPy's global history behind `dspy.inspect_history(n)`: every LM call a
 * predictor (or an adapter's extraction step) makes is kept with its messages, options and
 * response, in a bounded ring (`settings.configure({ maxHistorySize })`, default 20; 0 or
 * `disableHistory: true` keeps nothing). The bound is far below DSPy's 10000: kept prompts
 * outlive the young GC generation, and 100 kept entries measurably slowed Predict (bench/dspy).
 */
import type { ChatMessage, GenerateOptions, LMResponse } from '../lm/types.js';

/** One LM call kept in the history. */
export interface HistoryEntry {
  /** Provider and model of the LM that answered. */
  provider: string;
  model: string;
  messages: ChatMessage[];
  /** The options of the call, as passed. */
  options: GenerateOptions;
  /** Completions of this call (one per call here; DSPy's `outputs`). */
  outputs: string[];
  response: LMResponse;
  /** Epoch milliseconds when the call finished. */
  timestamp: number;
  durationMs: number;
}

/** LM calls kept when `maxHistorySize` is not configured. */
export const DEFAULT_MAX_HISTORY_SIZE = 20;

class HistoryRing {
  private items: HistoryEntry[] = [];
  private start = 0;

  push(entry: HistoryEntry, max: number): void {
    if (max <= 0) return;
    if (this.items.length < max && this.start === 0) {
      this.items.push(entry);
      return;
    }
    // Full (or the bound shrank): rebuild in order when the size changed, else overwrite the oldest.
    if (this.items.length !== max) {
      const ordered = this.list().slice(-(max - 1));
      ordered.push(entry);
      this.items = ordered;
      this.start = 0;
      return;
    }
    this.items[this.start] = entry;
    this.start = (this.start + 1) % max;
  }

  list(): HistoryEntry[] {
    return this.start === 0 ? [...this.items] : [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }

  clear(): void {
    this.items = [];
    this.start = 0;
  }
}

const ring = new HistoryRing();

/** Append one call (the settings' bound applies). */
export function recordHistory(entry: HistoryEntry, maxSize: number): void {
  ring.push(entry, maxSize);
}

/** The kept calls, oldest first. */
export function lmHistory(): HistoryEntry[] {
  return ring.list();
}

/** Forget every kept call. */
export function clearHistory(): void {
  ring.clear();
}

/** Options of inspectHistory / formatHistory. */
export interface InspectHistoryOptions {
  /** ANSI colours as DSPy's terminal output (default false). */
  colors?: boolean;
}

/**
 * DSPy's `inspect_history(n)`: the last `n` LM calls' messages and response, as the text
 * DSPy prints. Returned, not printed (this library writes nothing to stdout):
 * print it yourself, e.g. `process.stderr.write(inspectHistory(2))`.
 */
export function inspectHistory(n = 1, options: InspectHistoryOptions = {}): string {
  const all = ring.list();
  const k = Math.floor(n);
  // Python's history[-n:]: n <= 0 means everything.
  return formatHistory(k > 0 ? all.slice(-k) : all, options);
}

/** Render entries the way DSPy's `pretty_print_history` prints them. */
export function formatHistory(entries: readonly HistoryEntry[], options: InspectHistoryOptions = {}): string {
  const c = options.colors === true;
  const paint = (code: number, text: string) => (c ? `\x1b[${code}m${text}\x1b[0m` : text);
  let out = '';
  const print = (s: string) => {
    out += s + '\n';
  };
  for (const item of entries) {
    print('\n\n\n');
    print(paint(34, `[${new Date(item.timestamp).toISOString()}]`) + '\n');
    for (const msg of item.messages) {
      print(paint(31, `${msg.role[0]!.toUpperCase()}${msg.role.slice(1)} message:`) + '\n');
      print(msg.content.trim());
      print('\n');
    }
    print(paint(31, 'Response:') + '\n');
    print(paint(32, (item.outputs[0] ?? '').trim()) + '\n');
    if (item.outputs.length > 1) print(paint(31, ` \t (and ${item.outputs.length - 1} other completions)`));
  }
  print('\n\n\n');
  return out;
}
