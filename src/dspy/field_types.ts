/**
 * Field types of a signature: parsing DSPy's type annotations (`str`, `int`, `float`, `bool`,
 * `list[...]`, `dict[...]`, `Literal[...]`, zod schemas), describing them in prompts the way
 * DSPy does, and coercing an LM's text into a typed value (DSPy's `parse_value`, with
 * pydantic's lax rules): a value that does not fit its type is an error, never a silent pass.
 */
import { z } from 'zod';
import { parseLenientJSON, pyJsonDumps } from './json_text.js';

export type TypeSpec =
  | { kind: 'str' }
  | { kind: 'int' }
  | { kind: 'float' }
  | { kind: 'bool' }
  | { kind: 'list'; item?: TypeSpec }
  | { kind: 'dict'; value?: TypeSpec }
  | { kind: 'literal'; values: Array<string | number | boolean> }
  | { kind: 'zod'; schema: z.ZodType; name: string };

/** Thrown by `coerceValue`; adapters turn it into an `AdapterParseError`. */
export class TypeCoercionError extends Error {
  override name = 'TypeCoercionError';
}

/** Named structured types a signature string may refer to (`"text -> person: Person"`). */
export type TypeRegistry = Record<string, z.ZodType>;

/**
 * Parse a type annotation. Throws an Error whose message says what is wrong; the signature
 * parser adds which field it belongs to.
 */
export function parseTypeString(text: string, registry: TypeRegistry = {}): TypeSpec {
  const p = new TypeParser(text, registry);
  const spec = p.parseType();
  p.skipWs();
  if (p.pos < text.length) throw new Error(`unexpected "${text.slice(p.pos)}" after type in "${text}"`);
  return spec;
}

class TypeParser {
  pos = 0;
  constructor(
    readonly text: string,
    readonly registry: TypeRegistry,
  ) {}

  skipWs(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  ident(): string {
    this.skipWs();
    const m = /^[A-Za-z_][\w.]*/.exec(this.text.slice(this.pos));
    if (!m) throw new Error(`expected a type name at "${this.text.slice(this.pos) || '<end>'}" in "${this.text}"`);
    this.pos += m[0].length;
    return m[0];
  }

  peek(): string | undefined {
    this.skipWs();
    return this.text[this.pos];
  }

  expect(c: string): void {
    if (this.peek() !== c) throw new Error(`expected "${c}" at "${this.text.slice(this.pos) || '<end>'}" in "${this.text}"`);
    this.pos++;
  }

  args(): TypeSpec[] {
    const out: TypeSpec[] = [];
    this.expect('[');
    for (;;) {
      out.push(this.parseType());
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      this.expect(']');
      return out;
    }
  }

  literalValues(): Array<string | number | boolean> {
    const out: Array<string | number | boolean> = [];
    this.expect('[');
    for (;;) {
      this.skipWs();
      const rest = this.text.slice(this.pos);
      const m = /^(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?)|(True|False))/.exec(rest);
      if (!m) throw new Error(`expected a quoted string, number, True or False in Literal at "${rest || '<end>'}"`);
      this.pos += m[0].length;
      if (m[1] !== undefined) out.push(m[1].replace(/\\(.)/g, '$1'));
      else if (m[2] !== undefined) out.push(m[2].replace(/\\(.)/g, '$1'));
      else if (m[3] !== undefined) out.push(Number(m[3]));
      else out.push(m[4] === 'True');
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      this.expect(']');
      return out;
    }
  }

  parseType(): TypeSpec {
    const name = this.ident();
    const hasArgs = this.peek() === '[';
    switch (name) {
      case 'str':
      case 'int':
      case 'float':
      case 'bool':
        if (hasArgs) throw new Error(`type ${name} takes no arguments in "${this.text}"`);
        return { kind: name };
      case 'list':
      case 'List': {
        if (!hasArgs) return { kind: 'list' };
        const a = this.args();
        if (a.length !== 1) throw new Error(`list takes one type argument in "${this.text}"`);
        return { kind: 'list', item: a[0]! };
      }
      case 'dict':
      case 'Dict': {
        if (!hasArgs) return { kind: 'dict' };
        const a = this.args();
        if (a.length !== 2) throw new Error(`dict takes two type arguments (key, value) in "${this.text}"`);
        if (a[0]!.kind !== 'str') throw new Error(`dict keys must be str in "${this.text}"`);
        return { kind: 'dict', value: a[1]! };
      }
      case 'Literal':
      case 'typing.Literal':
        if (!hasArgs) throw new Error(`Literal needs values, e.g. Literal['yes', 'no'], in "${this.text}"`);
        return { kind: 'literal', values: this.literalValues() };
      default: {
        const schema = this.registry[name];
        if (!schema) {
          throw new Error(
            `unknown type "${name}" (known: str, int, float, bool, list[...], dict[...], Literal[...]` +
              `${Object.keys(this.registry).length ? ', ' + Object.keys(this.registry).join(', ') : ''}; ` +
              `pass structured types as zod schemas in options.types)`,
          );
        }
        if (hasArgs) throw new Error(`structured type ${name} takes no arguments in "${this.text}"`);
        return { kind: 'zod', schema, name };
      }
    }
  }
}

/** DSPy's `get_annotation_name`: the canonical text of a type. */
export function typeName(spec: TypeSpec): string {
  switch (spec.kind) {
    case 'list':
      return spec.item ? `list[${typeName(spec.item)}]` : 'list';
    case 'dict':
      return spec.value ? `dict[str, ${typeName(spec.value)}]` : 'dict';
    case 'literal':
      return `Literal[${spec.values.map(pyRepr).join(', ')}]`;
    case 'zod':
      return spec.name;
    default:
      return spec.kind;
  }
}

/** DSPy's `_quoted_string_for_literal_type_annotation` for strings; Python repr otherwise. */
function pyRepr(v: string | number | boolean): string {
  if (typeof v === 'string') {
    const single = v.includes("'");
    const double = v.includes('"');
    if (single && !double) return `"${v}"`;
    if (single && double) return `'${v.replace(/'/g, "\\'")}'`;
    return `'${v}'`;
  }
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

/** A zod schema's display name: its `meta({title})` or `meta({id})`, else `fallback`. */
export function zodTypeName(schema: z.ZodType, fallback = 'object'): string {
  const meta = z.globalRegistry.get(schema) as { title?: unknown; id?: unknown } | undefined;
  if (meta && typeof meta.title === 'string' && meta.title) return meta.title;
  if (meta && typeof meta.id === 'string' && meta.id) return meta.id;
  return fallback;
}

/** The JSON schema of a type, shaped like pydantic's `TypeAdapter(t).json_schema()`. */
export function jsonSchemaOf(spec: TypeSpec): Record<string, unknown> {
  switch (spec.kind) {
    case 'str':
      return { type: 'string' };
    case 'int':
      return { type: 'integer' };
    case 'float':
      return { type: 'number' };
    case 'bool':
      return { type: 'boolean' };
    case 'list':
      return { items: spec.item ? jsonSchemaOf(spec.item) : {}, type: 'array' };
    case 'dict':
      return spec.value ? { additionalProperties: jsonSchemaOf(spec.value), type: 'object' } : { type: 'object' };
    case 'literal': {
      const types = new Set(spec.values.map((v) => (typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'boolean' : 'number')));
      return types.size === 1 ? { enum: spec.values, type: [...types][0] } : { enum: spec.values };
    }
    case 'zod': {
      const { $schema: _drop, ...rest } = z.toJSONSchema(spec.schema, { unrepresentable: 'any' }) as Record<string, unknown>;
      return rest;
    }
  }
}

/** DSPy's `move_type_to_front`: keys sorted, `type` first, recursively. */
function typeFirst(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(typeFirst);
  if (v === null || typeof v !== 'object') return v;
  const keys = Object.keys(v).sort((a, b) => (a === 'type' ? -1 : b === 'type' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = typeFirst((v as Record<string, unknown>)[k]);
  return out;
}

/**
 * DSPy's `translate_field_type` for an output field: the `{name}` placeholder shown in the
 * prompt's structure section, with a note on the value's type for non-str fields.
 */
export function fieldTypePlaceholder(name: string, spec: TypeSpec, role: 'input' | 'output'): string {
  let desc = '';
  if (role === 'output' && spec.kind !== 'str') {
    if (spec.kind === 'bool') desc = 'must be True or False';
    else if (spec.kind === 'int' || spec.kind === 'float') desc = `must be a single ${spec.kind} value`;
    else if (spec.kind === 'literal') desc = `must exactly match (no extra characters) one of: ${spec.values.map(String).join('; ')}`;
    else desc = `must adhere to the JSON schema: ${pyJsonDumps(typeFirst(jsonSchemaOf(spec)))}`;
  }
  return `{${name}}` + (desc ? `${' '.repeat(8)}# note: the value you produce ${desc}` : '');
}

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'f', 'no', 'n', 'off', '0']);

/**
 * Coerce an LM-produced value to `spec`. `fromText` says `value` is the raw text of a field
 * (ChatAdapter), so non-str types are first read as lenient JSON / Python literals.
 */
export function coerceValue(spec: TypeSpec, value: unknown, fromText = false): unknown {
  if (spec.kind === 'str') {
    if (typeof value === 'string') return value;
    if (value === null || value === undefined) return '';
    if (typeof value === 'object') return pyJsonDumps(value);
    return String(value);
  }
  if (spec.kind === 'literal') return coerceLiteral(spec.values, value);
  let v = value;
  if (typeof v === 'string' && (fromText || spec.kind === 'list' || spec.kind === 'dict' || spec.kind === 'zod')) {
    try {
      v = parseLenientJSON(v);
    } catch {
      // Not JSON: validate the text itself (a plain string may still fit, e.g. a zod string).
      v = (v as string).trim();
    }
  }
  return validate(spec, v, '');
}

function where(path: string): string {
  return path ? ` at ${path}` : '';
}

function describe(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : pyJsonDumps(v);
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function validate(spec: TypeSpec, v: unknown, path: string): unknown {
  switch (spec.kind) {
    case 'str':
      if (typeof v === 'string') return v;
      throw new TypeCoercionError(`expected a string${where(path)}, got ${describe(v)}`);
    case 'int': {
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
      throw new TypeCoercionError(`expected an int${where(path)}, got ${describe(v)}`);
    }
    case 'float': {
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) return Number(v);
      throw new TypeCoercionError(`expected a float${where(path)}, got ${describe(v)}`);
    }
    case 'bool': {
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 1) return v === 1;
      if (typeof v === 'string') {
        const w = v.trim().toLowerCase();
        if (TRUE_WORDS.has(w)) return true;
        if (FALSE_WORDS.has(w)) return false;
      }
      throw new TypeCoercionError(`expected a bool (True or False)${where(path)}, got ${describe(v)}`);
    }
    case 'list': {
      if (!Array.isArray(v)) throw new TypeCoercionError(`expected a list${where(path)}, got ${describe(v)}`);
      const item = spec.item;
      return item ? v.map((x, i) => validate(item, x, `${path}[${i}]`)) : v;
    }
    case 'dict': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new TypeCoercionError(`expected a dict${where(path)}, got ${describe(v)}`);
      }
      const val = spec.value;
      if (!val) return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = validate(val, x, `${path}[${JSON.stringify(k)}]`);
      return out;
    }
    case 'literal':
      return coerceLiteral(spec.values, v);
    case 'zod': {
      const r = spec.schema.safeParse(v);
      if (r.success) return r.data;
      throw new TypeCoercionError(`value${where(path)} does not match ${spec.name}: ${z.prettifyError(r.error)}`);
    }
  }
}

/** DSPy's Literal parsing: exact match, else strip `Literal[...]` and quotes, then match. */
function coerceLiteral(values: Array<string | number | boolean>, v: unknown): unknown {
  if (values.includes(v as never)) return v;
  if (typeof v === 'string') {
    let s = v.trim();
    if ((s.startsWith('Literal[') || s.startsWith('str[')) && s.endsWith(']')) s = s.slice(s.indexOf('[') + 1, -1);
    if (s.length > 1 && s[0] === s[s.length - 1] && (s[0] === '"' || s[0] === "'")) s = s.slice(1, -1);
    for (const allowed of values) if (String(allowed) === s || (typeof allowed === 'boolean' && s === (allowed ? 'True' : 'False'))) return allowed;
  }
  throw new TypeCoercionError(`expected one of ${values.map(String).join('; ')}, got ${describe(v)}`);
}
