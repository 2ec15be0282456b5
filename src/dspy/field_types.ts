/**
 * Field types of a signature: parsing DSPy's type annotations (`str`, `int`, `float`, `bool`,
 * `list[...]`, `dict[...]`, `tuple[...]`, `Literal[...]`, `Optional[...]`, `Union[...]` and
 * `X | Y`, `Any`, `datetime`, enums and zod schemas), describing them in prompts the way
 * DSPy does, and coercing an LM's text into a typed value (DSPy's `parse_value`, with
 * pydantic's lax rules): a value that does not fit its type is an error, never a silent pass.
 */
import { ElexirionError } from '../errors.js';
import * as z from 'zod';
import { parseLenientJSON, pyJsonDumps } from './json_text.js';

/** A parsed type annotation. */
export type TypeSpec =
  | { kind: 'str' }
  | { kind: 'int' }
  | { kind: 'float' }
  | { kind: 'bool' }
  | { kind: 'list'; item?: TypeSpec }
  | { kind: 'dict'; value?: TypeSpec }
  | { kind: 'literal'; values: Array<string | number | boolean> }
  | { kind: 'zod'; schema: z.ZodType; name: string }
  | { kind: 'any' }
  | { kind: 'none' }
  | { kind: 'datetime' }
  | { kind: 'union'; options: TypeSpec[] }
  /** `tuple[a, b]`; `variadic` is `tuple[a, ...]` (any length, every item an `a`). */
  | { kind: 'tuple'; items: TypeSpec[]; variadic?: boolean }
  | { kind: 'enum'; name: string; members: ReadonlyArray<readonly [string, string | number]> };

/**
 * A named enum a signature string may refer to (a Python `enum.Enum`): members are
 * name -> value. LM text matches a member by value, else by name; the value is returned.
 */
export class EnumType {
  readonly members: ReadonlyArray<readonly [string, string | number]>;
  constructor(
    readonly name: string,
    members: Record<string, string | number> | readonly string[],
  ) {
    const entries = Array.isArray(members) ? members.map((m) => [m, m] as const) : Object.entries(members as Record<string, string | number>);
    if (entries.length === 0) throw new Error(`enum ${name} needs at least one member`);
    this.members = Object.freeze(entries.map(([k, v]) => Object.freeze([k, v] as const)));
  }

  /** The members' values, in order. */
  get values(): Array<string | number> {
    return this.members.map(([, v]) => v);
  }
}

/** Thrown by `coerceValue`; adapters turn it into an `AdapterParseError`. */
export class TypeCoercionError extends ElexirionError {
  override readonly code: string = 'TYPE_COERCION_ERROR';
  override name = 'TypeCoercionError';
}

/** Named structured types (zod schemas) and enums a signature string may refer to (`"text -> person: Person"`). */
export type TypeRegistry = Record<string, z.ZodType | EnumType>;

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

  /** `[a, b]` or `[a, ...]` / `[a, Ellipsis]` after `tuple`. */
  tupleArgs(): TypeSpec {
    const items: TypeSpec[] = [];
    this.expect('[');
    for (;;) {
      this.skipWs();
      if (this.text.startsWith('...', this.pos) || /^Ellipsis\b/.test(this.text.slice(this.pos))) {
        this.pos += this.text.startsWith('...', this.pos) ? 3 : 'Ellipsis'.length;
        this.expect(']');
        if (items.length !== 1) throw new Error(`tuple[X, ...] takes exactly one item type in "${this.text}"`);
        return { kind: 'tuple', items, variadic: true };
      }
      items.push(this.parseType());
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      this.expect(']');
      return { kind: 'tuple', items };
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

  /** A type, or a PEP 604 union `a | b | None`. */
  parseType(): TypeSpec {
    const first = this.parseAtom();
    if (this.peek() !== '|') return first;
    const options = [first];
    while (this.peek() === '|') {
      this.pos++;
      options.push(this.parseAtom());
    }
    return union(options);
  }

  parseAtom(): TypeSpec {
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
      case 'Any':
      case 'typing.Any':
        if (hasArgs) throw new Error(`Any takes no arguments in "${this.text}"`);
        return { kind: 'any' };
      case 'None':
      case 'NoneType':
        if (hasArgs) throw new Error(`${name} takes no arguments in "${this.text}"`);
        return { kind: 'none' };
      case 'datetime':
      case 'datetime.datetime':
        if (hasArgs) throw new Error(`datetime takes no arguments in "${this.text}"`);
        return { kind: 'datetime' };
      case 'Optional':
      case 'typing.Optional': {
        const a = hasArgs ? this.args() : [];
        if (a.length !== 1) throw new Error(`Optional takes one type argument in "${this.text}"`);
        return union([a[0]!, { kind: 'none' }]);
      }
      case 'Union':
      case 'typing.Union':
      case 'UnionType': {
        const a = hasArgs ? this.args() : [];
        if (a.length < 1) throw new Error(`Union needs type arguments in "${this.text}"`);
        return union(a);
      }
      case 'tuple':
      case 'Tuple':
      case 'typing.Tuple': {
        if (!hasArgs) return { kind: 'tuple', items: [{ kind: 'any' }], variadic: true };
        const a = this.tupleArgs();
        return a;
      }
      case 'Literal':
      case 'typing.Literal':
        if (!hasArgs) throw new Error(`Literal needs values, e.g. Literal['yes', 'no'], in "${this.text}"`);
        return { kind: 'literal', values: this.literalValues() };
      default: {
        const schema = this.registry[name];
        if (schema instanceof EnumType) {
          if (hasArgs) throw new Error(`enum ${name} takes no arguments in "${this.text}"`);
          return { kind: 'enum', name, members: schema.members };
        }
        if (!schema) {
          throw new Error(
            `unknown type "${name}" (known: str, int, float, bool, list[...], dict[...], tuple[...], Literal[...], Optional[...], Union[...], Any, datetime` +
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
    case 'any':
      return 'Any';
    case 'none':
      return 'NoneType';
    case 'union':
      return `Union[${spec.options.map(typeName).join(', ')}]`;
    case 'tuple':
      return `tuple[${spec.items.map(typeName).join(', ')}${spec.variadic ? ', Ellipsis' : ''}]`;
    case 'enum':
      return spec.name;
    default:
      return spec.kind;
  }
}

/** A union, flattened, duplicates dropped; a union of one type is that type. */
function union(options: TypeSpec[]): TypeSpec {
  const flat: TypeSpec[] = [];
  for (const o of options) for (const x of o.kind === 'union' ? o.options : [o]) if (!flat.some((f) => typeName(f) === typeName(x))) flat.push(x);
  return flat.length === 1 ? flat[0]! : { kind: 'union', options: flat };
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
      if (spec.value?.kind === 'any') return { additionalProperties: true, type: 'object' };
      return spec.value ? { additionalProperties: jsonSchemaOf(spec.value), type: 'object' } : { type: 'object' };
    case 'any':
      return {};
    case 'none':
      return { type: 'null' };
    case 'datetime':
      return { format: 'date-time', type: 'string' };
    case 'union':
      return { anyOf: spec.options.map(jsonSchemaOf) };
    case 'tuple':
      if (spec.variadic) return { items: jsonSchemaOf(spec.items[0]!), type: 'array' };
      return { maxItems: spec.items.length, minItems: spec.items.length, prefixItems: spec.items.map(jsonSchemaOf), type: 'array' };
    case 'enum': {
      const vals = spec.members.map(([, v]) => v);
      const t = vals.every((v) => typeof v === 'string') ? 'string' : vals.every((v) => Number.isInteger(v)) ? 'integer' : undefined;
      return { enum: vals, title: spec.name, ...(t ? { type: t } : {}) };
    }
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
    else if (spec.kind === 'enum') desc = `must be one of: ${spec.members.map(([, v]) => String(v)).join('; ')}`;
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
  if (spec.kind === 'enum') return coerceEnum(spec, value);
  if (spec.kind === 'datetime') return validate(spec, typeof value === 'string' ? value.trim() : value, '');
  // DSPy's parse_value: a str-or-None union keeps the text as it is.
  if (spec.kind === 'union' && typeof value === 'string' && spec.options.some((o) => o.kind === 'str')) {
    if (spec.options.some((o) => o.kind === 'none')) return value;
  }
  let v = value;
  if (typeof v === 'string' && (fromText || spec.kind === 'list' || spec.kind === 'dict' || spec.kind === 'zod' || spec.kind === 'tuple')) {
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
    case 'enum':
      return coerceEnum(spec, v);
    case 'any':
      return v;
    case 'none':
      if (v === null || v === undefined) return null;
      throw new TypeCoercionError(`expected None${where(path)}, got ${describe(v)}`);
    case 'datetime':
      return toDate(v, path);
    case 'tuple': {
      if (!Array.isArray(v)) throw new TypeCoercionError(`expected a tuple (a list)${where(path)}, got ${describe(v)}`);
      if (spec.variadic) return v.map((x, i) => validate(spec.items[0]!, x, `${path}[${i}]`));
      if (v.length !== spec.items.length) throw new TypeCoercionError(`expected a tuple of ${spec.items.length} items${where(path)}, got ${v.length}`);
      return v.map((x, i) => validate(spec.items[i]!, x, `${path}[${i}]`));
    }
    case 'union': {
      // pydantic's smart mode, roughly: an option the value already is wins, else the first that accepts it.
      const exact = spec.options.find((o) => isExactly(o, v));
      const order = exact ? [exact, ...spec.options.filter((o) => o !== exact)] : spec.options;
      const errors: string[] = [];
      for (const o of order) {
        try {
          return validate(o, v, path);
        } catch (e) {
          if (!(e instanceof TypeCoercionError)) throw e;
          errors.push(`${typeName(o)}: ${e.message}`);
        }
      }
      throw new TypeCoercionError(`value${where(path)} fits none of ${typeName(spec)} (${errors.join('; ')})`);
    }
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

/** The value already has this type's JS shape (no coercion needed). */
function isExactly(spec: TypeSpec, v: unknown): boolean {
  switch (spec.kind) {
    case 'str':
      return typeof v === 'string';
    case 'int':
      return typeof v === 'number' && Number.isInteger(v);
    case 'float':
      return typeof v === 'number';
    case 'bool':
      return typeof v === 'boolean';
    case 'none':
      return v === null;
    case 'list':
    case 'tuple':
      return Array.isArray(v);
    case 'dict':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'datetime':
      return v instanceof Date;
    default:
      return false;
  }
}

const ISO_DATE_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** pydantic's datetime: an ISO 8601 string, or a number of seconds since the epoch. A string without offset is read as UTC. */
function toDate(v: unknown, path: string): Date {
  if (v instanceof Date && !Number.isNaN(v.getTime())) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return new Date(v * 1000);
  if (typeof v === 'string' && ISO_DATE_RE.test(v.trim())) {
    let s = v.trim().replace(' ', 'T');
    if (/T/.test(s) && !/(Z|[+-]\d{2}:?\d{2})$/.test(s)) s += 'Z';
    const d = new Date(s);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new TypeCoercionError(`expected a datetime (ISO 8601)${where(path)}, got ${describe(v)}`);
}

/** DSPy's find_enum_member: by value, else by member name; the member's value is returned. */
function coerceEnum(spec: Extract<TypeSpec, { kind: 'enum' }>, v: unknown): string | number {
  for (const [, value] of spec.members) if (value === v) return value;
  if (typeof v === 'string' || typeof v === 'number') {
    let s = String(v).trim();
    if (s.length > 1 && s[0] === s[s.length - 1] && (s[0] === '"' || s[0] === "'")) s = s.slice(1, -1);
    for (const [, value] of spec.members) if (String(value) === s) return value;
    for (const [name, value] of spec.members) if (name === s || `${spec.name}.${name}` === s) return value;
  }
  throw new TypeCoercionError(`expected one of ${spec.members.map(([, x]) => String(x)).join('; ')} (enum ${spec.name}), got ${describe(v)}`);
}
