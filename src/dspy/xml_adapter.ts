/**
 * XMLAdapter: DSPy's XML format (dspy/adapters/xml_adapter.py, 3.0-3.2 flat form). Every field,
 * in the structure, the user messages and the assistant messages, is a
 * `<name>\nvalue\n</name>` block; the request asks for "the corresponding output fields wrapped
 * in XML tags". Parsing takes the first `<name>...</name>` (non-greedy, across lines) per
 * output field, trims it and coerces it by the field's type; a missing field is an
 * AdapterParseError. Like DSPy's (a ChatAdapter subclass), a failed parse is retried once with
 * the JSONAdapter. The field descriptions and the objective are the shared ones.
 */
import { AdapterParseError, formatFieldValue, parseOutputField } from './adapter.js';
import { ChatAdapter } from './chat_adapter.js';
import { fieldTypePlaceholder } from './field_types.js';
import { fieldTypeSpec, type Field, type Signature } from './signature.js';

/** DSPy's `field_pattern`: `<(?P<name>\w+)>((?P<content>.*?))</\1>` with DOTALL. */
const FIELD_RE = /<(\w+)>([\s\S]*?)<\/\1>/g;

function present(rec: Record<string, unknown>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(rec, k) && rec[k] !== undefined;
}

/** `<name>\nvalue\n</name>` blocks joined by blank lines (DSPy's XMLAdapter.format_field_with_value). */
export function formatXmlBlocks(fields: readonly Field[], values: Record<string, unknown>, missing?: string): string {
  const parts: string[] = [];
  for (const f of fields) {
    if (present(values, f.name)) parts.push(`<${f.name}>\n${formatFieldValue(f, values[f.name])}\n</${f.name}>`);
    else if (missing !== undefined) parts.push(`<${f.name}>\n${missing}\n</${f.name}>`);
  }
  return parts.join('\n\n').trim();
}

/** The first occurrence of each tag in `completion`, content trimmed (later occurrences ignored, as DSPy). */
export function xmlSections(completion: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of completion.matchAll(FIELD_RE)) if (!out.has(m[1]!)) out.set(m[1]!, m[2]!.trim());
  return out;
}

export class XMLAdapter extends ChatAdapter {
  override readonly name: string = 'xml';

  /** Each field as a `<name>` block with a placeholder. */
  override fieldStructure(signature: Signature): string {
    const placeholders = (fields: readonly Field[], role: 'input' | 'output') =>
      fields.map((f) => `<${f.name}>\n${fieldTypePlaceholder(f.name, fieldTypeSpec(f), role)}\n</${f.name}>`).join('\n\n').trim();
    return [
      'All interactions will be structured in the following way, with the appropriate values filled in.',
      placeholders(signature.inputFields, 'input'),
      placeholders(signature.outputFields, 'output'),
    ]
      .join('\n\n')
      .trim();
  }

  /** Optional prefix, the input fields as `<name>` blocks, and for the request the output requirements. */
  override userMessage(signature: Signature, inputs: Record<string, unknown>, opts: { prefix?: string; mainRequest?: boolean } = {}): string {
    const parts = [opts.prefix ?? '', formatXmlBlocks(signature.inputFields, inputs)];
    if (opts.mainRequest) parts.push(this.outputRequirements(signature));
    return parts.join('\n\n').trim();
  }

  /** "Respond with the corresponding output fields wrapped in XML tags `<a>`, then `<b>`." */
  override outputRequirements(signature: Signature): string {
    return `Respond with the corresponding output fields wrapped in XML tags ${signature.outputFields.map((f) => `\`<${f.name}>\``).join(', then ')}.`;
  }

  /** Output fields as `<name>` blocks. */
  override assistantMessage(signature: Signature, outputs: Record<string, unknown>, missing?: string): string {
    return formatXmlBlocks(signature.outputFields, outputs, missing);
  }

  override parse(signature: Signature, completion: string): Record<string, unknown> {
    const sections = xmlSections(completion);
    const outputs: Record<string, unknown> = {};
    for (const f of signature.outputFields) {
      const text = sections.get(f.name);
      if (text === undefined) {
        const got = signature.outputNames.filter((n) => sections.has(n));
        throw new AdapterParseError(
          `${this.name}: the LM response has no \`<${f.name}>\` element ` +
            `(expected ${signature.outputNames.join(', ')}; got ${got.length ? got.join(', ') : 'none'})`,
          { raw: completion, field: f.name, adapter: this.name },
        );
      }
      outputs[f.name] = parseOutputField(this.name, f, text, true, completion);
    }
    return outputs;
  }
}
