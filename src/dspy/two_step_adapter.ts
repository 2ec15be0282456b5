/**
 * TwoStepAdapter: DSPy's two-stage adapter (dspy/adapters/two_step_adapter.py). The main LM
 * gets a plain, natural prompt (a task description, demos as `name: value` lines) and answers
 * in free text; a second, usually smaller, extraction LM then turns that text into the output
 * fields through a structured adapter (a ChatAdapter by default, as DSPy) over the signature
 * `text -> <the original output fields>`. Useful with reasoning models that struggle with
 * structured output. The extraction step has no demos, so it is not optimized (as in DSPy).
 */
import type { ChatMessage, GenerateOptions, LM } from '../lm/types.js';
import { AdapterParseError, BaseAdapter, fieldDescriptions, pyStr, type Adapter, type AdapterResult, type Demo } from './adapter.js';
import { observed } from './callbacks.js';
import { ChatAdapter } from './chat_adapter.js';
import { observeLM } from './lm_observer.js';
import { settings } from './settings.js';
import { Signature } from './signature.js';

/** Options of TwoStepAdapter. */
export interface TwoStepAdapterOptions {
  /** The LM that extracts the fields from the main LM's text. */
  extractionLM: LM;
  /** Adapter the extraction step uses (default: a ChatAdapter, which itself falls back to JSON). */
  extractionAdapter?: Adapter;
  /** Sampling options for the extraction call (default none, as DSPy's `lm_kwargs={}`). */
  extractionConfig?: GenerateOptions;
}

/** The main LM's prompt: DSPy's message sequence with TwoStepAdapter's plain texts. */
class TwoStepFormat extends BaseAdapter {
  readonly name: string = 'two_step';

  /** DSPy's TwoStepAdapter.format_task_description: the whole system message. */
  override systemMessage(signature: Signature): string {
    return [
      'You are a helpful assistant that can solve tasks based on user input.',
      `As input, you will be provided with:\n${fieldDescriptions(signature.inputFields)}`,
      `Your outputs must contain:\n${fieldDescriptions(signature.outputFields)}`,
      'You should lay out your outputs in detail so that your answer can be understood by another agent',
      ...(signature.instructions ? [`Specific instructions: ${signature.instructions}`] : []),
    ].join('\n');
  }

  /** Not used: the main LM gets no field structure. */
  fieldStructure(): string {
    return '';
  }

  /** Not used: the main LM is not asked for a format. */
  outputRequirements(): string {
    return '';
  }

  /** `name: value` per input present, blank-line separated (no output request). */
  override userMessage(signature: Signature, inputs: Record<string, unknown>, opts: { prefix?: string } = {}): string {
    const parts = [opts.prefix ?? ''];
    for (const f of signature.inputFields) if (f.name in inputs && inputs[f.name] !== undefined) parts.push(`${f.name}: ${pyStr(inputs[f.name])}`);
    return parts.join('\n\n').trim();
  }

  /** `name: value` per output the demo has (DSPy leaves missing outputs out here). */
  assistantMessage(signature: Signature, outputs: Record<string, unknown>): string {
    const parts: string[] = [];
    for (const f of signature.outputFields) if (f.name in outputs && outputs[f.name] !== undefined) parts.push(`${f.name}: ${pyStr(outputs[f.name])}`);
    return parts.join('\n\n').trim();
  }

  parse(): Record<string, unknown> {
    throw new Error('TwoStepAdapter parses with its extraction LM');
  }
}

/** A main LM answering in free text, an extraction LM filling the fields (DSPy's `dspy.TwoStepAdapter`). */
export class TwoStepAdapter implements Adapter {
  readonly name: string = 'two_step';
  readonly extractionLM: LM;
  readonly extractionAdapter: Adapter;
  readonly extractionConfig: GenerateOptions;
  private readonly formatter = new TwoStepFormat();
  private readonly extractorCache = new WeakMap<Signature, Signature>();

  constructor(options: TwoStepAdapterOptions) {
    if (!options || typeof options.extractionLM?.generate !== 'function') {
      throw new TypeError('TwoStepAdapter: options.extractionLM must be an LM (an object with generate())');
    }
    this.extractionLM = options.extractionLM;
    this.extractionAdapter = options.extractionAdapter ?? new ChatAdapter();
    this.extractionConfig = { ...options.extractionConfig };
  }

  /** The main LM's messages: task description, demos as `name: value` pairs, the inputs. */
  format(signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): ChatMessage[] {
    return this.formatter.format(signature, demos, inputs);
  }

  /** The extraction signature: `text -> <outputs>`, with DSPy's instructions. */
  extractorSignature(signature: Signature): Signature {
    let s = this.extractorCache.get(signature);
    if (!s) {
      const outputs = signature.outputFields.map((f) => `\`${f.name}\``).join(', ');
      s = new Signature({
        inputs: [{ name: 'text', type: 'str' }],
        outputs: signature.outputFields,
        instructions:
          `The input is a text that should contain all the necessary information to produce the fields ${outputs}. ` +
          ' '.repeat(12) +
          'Your job is to extract the fields from the text verbatim. Extract precisely the appropriate value (content) for each field.',
      });
      this.extractorCache.set(signature, s);
    }
    return s;
  }

  /** Extract the output fields from the main LM's text with the extraction LM (`signal` stops it). */
  async parse(signature: Signature, completion: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const options = signal ? { ...this.extractionConfig, signal } : this.extractionConfig;
    try {
      const { outputs } = await this.extractionAdapter.call(observeLM(this.extractionLM), options, this.extractorSignature(signature), [], {
        text: completion,
      });
      return outputs;
    } catch (e) {
      if (e instanceof Error && e.name === 'AbortError') throw e;
      throw new AdapterParseError(`${this.name}: failed to extract the output fields from the main LM's response: ${(e as Error).message}`, {
        raw: completion,
        field: e instanceof AdapterParseError ? e.field : undefined,
        adapter: this.name,
        cause: e,
      });
    }
  }

  /** Main LM call, then extraction; reported to adapter format/parse callbacks like the text adapters. */
  async call(lm: LM, options: GenerateOptions, signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): Promise<AdapterResult> {
    const callbacks = settings.callbacks;
    const format = () => this.format(signature, demos, inputs);
    const messages = callbacks.length ? await observed(callbacks, 'AdapterFormat', this, { signature, demos, inputs }, format) : format();
    const response = await lm.generate(messages, options);
    const parse = () => this.parse(signature, response.text, options.signal);
    const outputs = callbacks.length ? await observed(callbacks, 'AdapterParse', this, { signature, completion: response.text }, parse) : await parse();
    return { outputs, response, adapter: this.name };
  }
}
