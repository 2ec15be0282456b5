/**
 * JSONAdapter: DSPy 2.6's JSON mode. Inputs are shown as `[[ ## field ## ]]` blocks; the LM is
 * asked for one JSON object holding the output fields. Parsing tolerates what LMs write:
 * fenced ```json blocks, prose around the object, trailing commas, single quotes, Python
 * literals.
 *
 * Native structured output (DSPy's JSONAdapter default): when the LM declares it
 * (`lm.capabilities`), the same prompt goes with a response format, the signature's output
 * schema (strict) or, for open-ended outputs, any JSON object. When the provider refuses it
 * (HTTP 400/422) or its answer does not parse, the call is made once more with the plain
 * prompt. Other LM errors propagate, as in DSPy 3.3.
 */
import { LMError } from '../lm/errors.js';
import type { GenerateOptions, LM } from '../lm/types.js';
import { AdapterParseError, BaseAdapter, parseOutputField, type AdapterResult, type Demo } from './adapter.js';
import { fieldTypePlaceholder } from './field_types.js';
import { extractJsonObject, parseLenientJSON, pyJsonDumps, stripCodeFence } from './json_text.js';
import { fieldTypeSpec, type Field, type Signature } from './signature.js';
import { structuredResponseFormat } from './structured_output.js';

/** Options of JSONAdapter. */
export interface JSONAdapterOptions {
  /**
   * Ask an LM that declares native structured output for it (default true, as DSPy). False:
   * always the plain prompt.
   */
  structuredOutput?: boolean;
}

/** A provider refusing the request as sent (a response format it does not take): worth one plain retry. */
function refusedRequest(e: unknown): boolean {
  return e instanceof LMError && e.kind === 'bad_request' && (e.status === 400 || e.status === 422);
}

export class JSONAdapter extends BaseAdapter {
  readonly name: string = 'json';
  /** See JSONAdapterOptions.structuredOutput. */
  readonly structuredOutput: boolean;

  constructor(options: JSONAdapterOptions = {}) {
    super();
    this.structuredOutput = options.structuredOutput ?? true;
  }

  /** Format, call, parse; with native structured output when the LM has it (see the module comment). */
  override async call(lm: LM, options: GenerateOptions, signature: Signature, demos: readonly Demo[], inputs: Record<string, unknown>): Promise<AdapterResult> {
    const format = this.structuredOutput && options.responseFormat === undefined ? structuredResponseFormat(signature, lm) : undefined;
    if (!format) return super.call(lm, options, signature, demos, inputs);
    try {
      return await super.call(lm, { ...options, responseFormat: format }, signature, demos, inputs);
    } catch (e) {
      if (!(e instanceof AdapterParseError) && !refusedRequest(e)) throw e;
      // DSPy retries in JSON mode; here the plain prompt (it already asks for the JSON object):
      // a server that refuses one response format usually refuses the other too.
      return super.call(lm, options, signature, demos, inputs);
    }
  }

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
