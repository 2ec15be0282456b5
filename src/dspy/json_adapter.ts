/**
 * JSONAdapter: DSPy 2.6's JSON mode. Inputs are shown as `[[ ## field ## ]]` blocks; the LM is
 * asked for one JSON object holding the output fields. Parsing tolerates what LMs write:
 * fenced ```json blocks, prose around the object, trailing commas, single quotes, Python
 * literals.
 */
import { AdapterParseError, BaseAdapter, parseOutputField } from './adapter.js';
import { fieldTypePlaceholder } from './field_types.js';
import { extractJsonObject, parseLenientJSON, pyJsonDumps, stripCodeFence } from './json_text.js';
import { fieldTypeSpec, type Field, type Signature } from './signature.js';

export class JSONAdapter extends BaseAdapter {
  readonly name: string = 'json';

  /** Inputs as `[[ ## name ## ]]` blocks, outputs as one JSON object. */
  fieldStructure(signature: Signature): string {
    const inputs = signature.inputFields
      .map((f) => `[[ ## ${f.name} ## ]]\n${fieldTypePlaceholder(f.name, fieldTypeSpec(f), 'input')}`)
      .join('\n\n')
      .trim();
    const outputs: Record<string, string> = {};
    for (const f of signature.outputFields) outputs[f.name] = fieldTypePlaceholder(f.name, fieldTypeSpec(f), 'output');
    return [
      'All interactions will be structured in the following way, with the appropriate values filled in.',
      'Inputs will have the following structure:',
      inputs,
      'Outputs will be a JSON object with the following fields.',
      pyJsonDumps(outputs, 2),
    ]
      .join('\n\n')
      .trim();
  }

  /** "Respond with a JSON object in the following order of fields: ..." */
  outputRequirements(signature: Signature): string {
    const typeInfo = (f: Field) => (f.type === 'str' ? '' : ` (must be formatted as a valid Python ${f.type})`);
    return 'Respond with a JSON object in the following order of fields: ' + signature.outputFields.map((f) => `\`${f.name}\`${typeInfo(f)}`).join(', then ') + '.';
  }

  /** Output fields as one indented JSON object. */
  assistantMessage(signature: Signature, outputs: Record<string, unknown>, missing?: string): string {
    const d: Record<string, unknown> = {};
    for (const f of signature.outputFields) {
      const v = outputs[f.name];
      if (v !== undefined) d[f.name] = v;
      else if (missing !== undefined) d[f.name] = missing;
    }
    return pyJsonDumps(d, 2);
  }

  parse(signature: Signature, completion: string): Record<string, unknown> {
    const body = stripCodeFence(completion);
    const candidate = extractJsonObject(body) ?? body;
    let parsed: unknown;
    try {
      parsed = parseLenientJSON(candidate);
    } catch (e) {
      throw new AdapterParseError(`${this.name}: the LM response is not a JSON object: ${(e as Error).message}`, {
        raw: completion,
        adapter: this.name,
        cause: e,
      });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new AdapterParseError(`${this.name}: the LM response is not a JSON object`, { raw: completion, adapter: this.name });
    }
    const obj = parsed as Record<string, unknown>;
    const outputs: Record<string, unknown> = {};
    for (const f of signature.outputFields) {
      if (!Object.prototype.hasOwnProperty.call(obj, f.name)) {
        throw new AdapterParseError(
          `${this.name}: the LM's JSON object has no \`${f.name}\` key (expected ${signature.outputNames.join(', ')}; got ${Object.keys(obj).join(', ') || 'none'})`,
          { raw: completion, field: f.name, adapter: this.name },
        );
      }
      outputs[f.name] = parseOutputField(this.name, f, obj[f.name], false, completion);
    }
    return outputs;
  }
}
