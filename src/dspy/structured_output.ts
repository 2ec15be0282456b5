/**
 * Native structured output for a signature (DSPy's `_get_structured_outputs_response_format`):
 * the JSON schema of the output fields, shaped for OpenAI's strict Structured Outputs (every
 * object lists all its properties as required and forbids others), and the response format a
 * JSONAdapter asks an LM for.
 */
import type { LM, ResponseFormat } from '../lm/types.js';
import { jsonSchemaOf } from './field_types.js';
import { fieldTypeSpec, type Signature } from './signature.js';

/** The schema's name, as DSPy names the pydantic model it builds. */
export const STRUCTURED_OUTPUT_NAME = 'DSPyProgramOutputs';

/** Pydantic's field title: `answer_text` -> `Answer Text` (Python's `str.title()`, then `_` -> space). */
function pydanticTitle(name: string): string {
  return name.replace(/\p{L}+/gu, (w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase()).replace(/_/g, ' ');
}

/**
 * Whether an output field is an open-ended mapping (`dict[...]`, `Any`): strict structured
 * output needs every property declared, so such a signature asks for a plain JSON object.
 * DSPy checks `dict` only; `Any` (an empty schema) is refused by strict mode just the same.
 */
export function hasOpenEndedOutput(signature: Signature): boolean {
  return signature.outputFields.some((f) => {
    const kind = fieldTypeSpec(f).kind;
    return kind === 'dict' || kind === 'any';
  });
}

/** DSPy's `enforce_required`: objects require all their properties and allow no others, recursively. */
function enforceRequired(part: Record<string, unknown>): void {
  if (part['type'] === 'object') {
    const props = part['properties'];
    if (props !== null && typeof props === 'object') {
      part['required'] = Object.keys(props);
      part['additionalProperties'] = false;
      for (const sub of Object.values(props as Record<string, unknown>)) {
        if (sub !== null && typeof sub === 'object' && !Array.isArray(sub)) enforceRequired(sub as Record<string, unknown>);
      }
    } else {
      part['properties'] = {};
      part['required'] = [];
      part['additionalProperties'] = false;
    }
  }
  const items = part['items'];
  if (part['type'] === 'array' && items !== null && typeof items === 'object' && !Array.isArray(items)) {
    enforceRequired(items as Record<string, unknown>);
  }
  for (const key of ['$defs', 'definitions']) {
    const defs = part[key];
    if (defs !== null && typeof defs === 'object') {
      for (const d of Object.values(defs as Record<string, unknown>)) {
        if (d !== null && typeof d === 'object') enforceRequired(d as Record<string, unknown>);
      }
    }
  }
}

/**
 * A field's schema made valid inside the outputs' schema: its references are to its own root
 * (`#`, a recursive zod type) or its own `$defs`, which nested under `properties` would point at
 * the outputs' root. Its definitions move to the root's `$defs` (prefixed with the field name),
 * a self-referencing schema becomes one of them, and the references follow.
 */
function hoistDefs(field: string, schema: Record<string, unknown>, rootDefs: Record<string, unknown>): Record<string, unknown> {
  const own = (schema['$defs'] ?? {}) as Record<string, unknown>;
  delete schema['$defs'];
  const selfName = `${field}`;
  let selfReferenced = false;
  const rename = (ref: string): string => {
    if (ref === '#') {
      selfReferenced = true;
      return `#/$defs/${selfName}`;
    }
    const m = /^#\/\$defs\/(.+)$/.exec(ref);
    return m && m[1]! in own ? `#/$defs/${field}__${m[1]}` : ref;
  };
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o['$ref'] === 'string') o['$ref'] = rename(o['$ref']);
      Object.values(o).forEach(walk);
    }
  };
  walk(schema);
  for (const [name, def] of Object.entries(own)) {
    walk(def);
    rootDefs[`${field}__${name}`] = def;
  }
  if (!selfReferenced) return schema;
  rootDefs[selfName] = schema;
  return { $ref: `#/$defs/${selfName}` };
}

/**
 * The JSON schema of a signature's outputs: an object with one property per output field
 * (titled as pydantic titles it), all required, nothing else allowed. Throws when an output is
 * open-ended (see `hasOpenEndedOutput`), as DSPy does.
 */
export function outputJsonSchema(signature: Signature): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const defs: Record<string, unknown> = {};
  for (const f of signature.outputFields) {
    const spec = fieldTypeSpec(f);
    if (spec.kind === 'dict' || spec.kind === 'any') {
      throw new Error(`Field '${f.name}' has an open-ended mapping type which is not supported by Structured Outputs.`);
    }
    // A deep copy: the schema is edited in place below, and zod may hand back shared objects.
    const schema = hoistDefs(f.name, structuredClone(jsonSchemaOf(spec)), defs);
    properties[f.name] = 'title' in schema || '$ref' in schema ? schema : { ...schema, title: pydanticTitle(f.name) };
  }
  const schema: Record<string, unknown> = { properties, title: STRUCTURED_OUTPUT_NAME, type: 'object' };
  if (Object.keys(defs).length > 0) schema['$defs'] = defs;
  enforceRequired(schema);
  return schema;
}

/**
 * What a JSONAdapter asks `lm` for: the output schema (strict) when the LM takes a JSON schema
 * and every output is declared; a plain JSON object when the LM takes that instead (or an
 * output is open-ended); nothing when the LM declares neither (text only).
 */
export function structuredResponseFormat(signature: Signature, lm: LM): ResponseFormat | undefined {
  const caps = lm.capabilities;
  if (!caps) return undefined;
  if (caps.jsonSchema && !hasOpenEndedOutput(signature)) {
    // Signatures are immutable: the format is built once per signature.
    let format = schemaFormats.get(signature);
    if (!format) {
      format = { type: 'json_schema', name: STRUCTURED_OUTPUT_NAME, schema: outputJsonSchema(signature), strict: true };
      schemaFormats.set(signature, format);
    }
    return format;
  }
  if (caps.jsonObject) return JSON_OBJECT;
  return undefined;
}

const JSON_OBJECT: ResponseFormat = Object.freeze({ type: 'json_object' as const });
const schemaFormats = new WeakMap<Signature, ResponseFormat>();
