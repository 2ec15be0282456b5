/**
 * ChatAdapter: DSPy 2.6's chat format. The system message lists the fields, shows the
 * `[[ ## field ## ]]` structure and states the objective; each demo is a user/assistant pair
 * (incomplete demos first, marked as such); the last user message holds the inputs and asks
 * for the outputs in order. Parsing splits on header lines; the first occurrence of a field
 * wins. On a parse failure, `call` retries once with the JSONAdapter (a second LM call).
 */
import type { GenerateOptions, LM } from '../lm/types.js';
import {
  AdapterParseError,
  BaseAdapter,
  formatFieldBlocks,
  parseOutputField,
  type Adapter,
  type AdapterResult,
  type Demo,
} from './adapter.js';
import { fieldTypePlaceholder } from './field_types.js';
import { JSONAdapter } from './json_adapter.js';
import { fieldTypeSpec, type Field, type Signature } from './signature.js';

const HEADER_RE = /^\[\[ ## (\w+) ## \]\]/;

/** Options of ChatAdapter (and XMLAdapter). */
export interface ChatAdapterOptions {
  /** Adapter retried on a parse failure (default: a JSONAdapter); `false` for none. */
  fallback?: Adapter | false;
}

function structurePlaceholders(fields: readonly Field[], role: 'input' | 'output'): string {
  return fields.map((f) => `[[ ## ${f.name} ## ]]\n${fieldTypePlaceholder(f.name, fieldTypeSpec(f), role)}`).join('\n\n').trim();
}

export class ChatAdapter extends BaseAdapter {
  readonly name: string = 'chat';
  private readonly fallback: Adapter | false;

  constructor(options: ChatAdapterOptions = {}) {
    super();
    this.fallback = options.fallback ?? new JSONAdapter();
  }

  /** Each field as a `[[ ## name ## ]]` header with a placeholder, ending with `[[ ## completed ## ]]`. */
  fieldStructure(signature: Signature): string {
    return [
      'All interactions will be structured in the following way, with the appropriate values filled in.',
      structurePlaceholders(signature.inputFields, 'input'),
      structurePlaceholders(signature.outputFields, 'output'),
      '[[ ## completed ## ]]\n',
    ]
      .join('\n\n')
      .trim();
  }

  /** "Respond with the corresponding output fields, starting with the field ..." */
  outputRequirements(signature: Signature): string {
    const typeInfo = (f: Field) => (f.type === 'str' ? '' : ` (must be formatted as a valid Python ${f.type})`);
    return (
      'Respond with the corresponding output fields, starting with the field ' +
      signature.outputFields.map((f) => `\`[[ ## ${f.name} ## ]]\`${typeInfo(f)}`).join(', then ') +
      ', and then ending with the marker for `[[ ## completed ## ]]`.'
    );
  }

  /** Output fields as `[[ ## name ## ]]` blocks, then the completed marker. */
  assistantMessage(signature: Signature, outputs: Record<string, unknown>, missing?: string): string {
    return `${formatFieldBlocks(signature.outputFields, outputs, missing)}\n\n[[ ## completed ## ]]\n`;
  }

  parse(signature: Signature, completion: string): Record<string, unknown> {
    const sections = splitSections(completion);
    const outputs: Record<string, unknown> = {};
    const wanted = new Map(signature.outputFields.map((f) => [f.name, f]));
    for (const [name, text] of sections) {
      const field = wanted.get(name);
      if (field && !(name in outputs)) outputs[name] = parseOutputField(this.name, field, text, true, completion);
    }
    for (const f of signature.outputFields) {
      if (!(f.name in outputs)) {
        const got = Object.keys(outputs);
        throw new AdapterParseError(
          `${this.name}: the LM response has no \`[[ ## ${f.name} ## ]]\` section ` +
            `(expected ${signature.outputNames.join(', ')}; got ${got.length ? got.join(', ') : 'none'})`,
          { raw: completion, field: f.name, adapter: this.name },
        );
      }
    }
    return outputs;
  }

  override async call(lm: LM, options: GenerateOptions, signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): Promise<AdapterResult> {
    try {
      return await super.call(lm, options, signature, demos, inputs);
    } catch (e) {
      if (!(e instanceof AdapterParseError) || !this.fallback) throw e;
      // DSPy retries a failed chat parse once in JSON mode.
      try {
        return await this.fallback.call(lm, options, signature, demos, inputs);
      } catch (e2) {
        // Report the last attempt; its cause is the chat attempt's failure (the JSON error's detail is in its message).
        if (e2 instanceof AdapterParseError) {
          throw new AdapterParseError(e2.message, { raw: e2.raw, field: e2.field, adapter: e2.adapter, cause: e });
        }
        throw e2;
      }
    }
  }
}

/** Header-delimited sections in order: [field name, trimmed text]. Text before the first header is dropped. */
export function splitSections(completion: string): Array<[string, string]> {
  const sections: Array<[string | undefined, string[]]> = [[undefined, []]];
  for (const line of completion.split(/\r?\n/)) {
    const trimmed = line.trim();
    const m = HEADER_RE.exec(trimmed);
    if (m) {
      const rest = trimmed.slice(m[0].length).trim();
      sections.push([m[1]!, rest ? [rest] : []]);
    } else {
      sections[sections.length - 1]![1].push(line);
    }
  }
  const out: Array<[string, string]> = [];
  for (const [k, lines] of sections) if (k !== undefined) out.push([k, lines.join('\n').trim()]);
  return out;
}
