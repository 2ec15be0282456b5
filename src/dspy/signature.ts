/**
 * Signatures: the typed input/output contract of a predictor, with DSPy's string syntax
 * (`"question: str, context -> answer: int"`), per-field descriptions and prefixes, and
 * instructions (DSPy's default text when none are given). Immutable: every update returns a
 * new Signature, so a predictor's signature can be swapped without touching copies.
 */
import { ElexirionError } from '../errors.js';
import * as z from 'zod';
import { EnumType, parseTypeString, typeName, zodTypeName, type TypeRegistry, type TypeSpec } from './field_types.js';

export type FieldRole = 'input' | 'output';

export interface Field {
  readonly name: string;
  /** DSPy's annotation name: `str`, `int`, `list[str]`, `dict[str, int]`, `Literal['a', 'b']`, or a zod type's name. */
  readonly type: string;
  /** Absent when DSPy would store its placeholder `${name}`. */
  readonly description?: string;
  /** DSPy's prefix: `infer_prefix(name) + ":"` unless given (`"Reasoning: Let's think..."`). */
  readonly prefix: string;
  /** For structured types (and composites of them such as `list[Person]`): the zod schema that validates values. */
  readonly schema?: z.ZodType;
}

export interface FieldInit {
  name: string;
  /** A type annotation (default `str`) or a zod schema. */
  type?: string | z.ZodType;
  /** Display name for a zod type (default: its meta title/id, else `object`). */
  typeName?: string;
  description?: string;
  prefix?: string;
}

export interface SignatureInit {
  inputs: ReadonlyArray<FieldInit | Field>;
  outputs: ReadonlyArray<FieldInit | Field>;
  instructions?: string;
  /** Structured types that string annotations may name. */
  types?: TypeRegistry;
}

export interface SignatureParseOptions {
  types?: TypeRegistry;
  descriptions?: Record<string, string>;
  prefixes?: Record<string, string>;
}

/** One field as DSPy's `Signature.dump_state` saves it, plus name, role and type so it can be rebuilt. */
export interface SignatureFieldJSON {
  name: string;
  role: FieldRole;
  type: string;
  prefix: string;
  description: string;
}

export interface SignatureJSON {
  instructions: string;
  fields: SignatureFieldJSON[];
}

/** The state DSPy's `load_state` applies: instructions, and prefix/description per field in order. */
export interface SignatureState {
  instructions: string;
  fields: ReadonlyArray<{ prefix?: string; description?: string }>;
}

export class SignatureParseError extends ElexirionError {
  override readonly code: string = 'SIGNATURE_PARSE_ERROR';
  override name = 'SignatureParseError';
  constructor(
    message: string,
    readonly spec: string,
  ) {
    super(message);
  }
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const specCache = new WeakMap<Field, TypeSpec>();

/** DSPy's `infer_prefix`: `some_field` -> `Some Field`, `questionText` -> `Question Text`, `URL` kept. */
export function inferPrefix(name: string): string {
  let s = name.replace(/(.)([A-Z][a-z]+)/g, '$1_$2');
  s = s.replace(/([a-z0-9])([A-Z])/g, '$1_$2');
  s = s.replace(/([a-zA-Z])(\d)/g, '$1_$2');
  s = s.replace(/(\d)([a-zA-Z])/g, '$1_$2');
  return s
    .split('_')
    .map((w) => (w === w.toUpperCase() && /[A-Z]/.test(w) ? w : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()))
    .join(' ');
}

/** DSPy's default instructions. */
export function defaultInstructions(inputs: readonly string[], outputs: readonly string[]): string {
  const list = (names: readonly string[]) => names.map((n) => `\`${n}\``).join(', ');
  return `Given the fields ${list(inputs)}, produce the fields ${list(outputs)}.`;
}

/** The parsed type of a field (cached per Field object). */
export function fieldTypeSpec(field: Field): TypeSpec {
  let spec = specCache.get(field);
  if (!spec) {
    spec = field.schema ? { kind: 'zod', schema: field.schema, name: field.type } : parseTypeString(field.type);
    specCache.set(field, spec);
  }
  return spec;
}

function isField(f: FieldInit | Field): f is Field {
  return typeof f.type === 'string' && typeof f.prefix === 'string' && specCache.has(f as Field);
}

/** Turn a type spec containing registered zod types into one zod schema (e.g. `list[Person]`). */
function toZod(spec: TypeSpec): z.ZodType {
  switch (spec.kind) {
    case 'str':
      return z.string();
    case 'int':
      return z.number().int();
    case 'float':
      return z.number();
    case 'bool':
      return z.boolean();
    case 'list':
      return z.array(spec.item ? toZod(spec.item) : z.unknown());
    case 'dict':
      return z.record(z.string(), spec.value ? toZod(spec.value) : z.unknown());
    case 'literal':
      return z.union(spec.values.map((v) => z.literal(v)) as unknown as [z.ZodType, z.ZodType]);
    case 'zod':
      return spec.schema;
    case 'any':
      return z.any();
    case 'none':
      return z.null();
    case 'datetime':
      return z.coerce.date();
    case 'union':
      return z.union(spec.options.map(toZod) as unknown as [z.ZodType, z.ZodType]);
    case 'tuple':
      return spec.variadic ? z.array(toZod(spec.items[0]!)) : z.tuple(spec.items.map(toZod) as unknown as [z.ZodType]);
    case 'enum': {
      const values = spec.members.map(([, v]) => v);
      return z.union(values.map((v) => z.literal(v)) as unknown as [z.ZodType, z.ZodType]);
    }
  }
}

/** The enums a type refers to, as a registry, so a field can be rebuilt from its type name. */
function enumsOf(spec: TypeSpec, out: TypeRegistry = {}): TypeRegistry {
  if (spec.kind === 'enum') out[spec.name] = new EnumType(spec.name, Object.fromEntries(spec.members));
  else if (spec.kind === 'list' && spec.item) enumsOf(spec.item, out);
  else if (spec.kind === 'dict' && spec.value) enumsOf(spec.value, out);
  else if (spec.kind === 'union') spec.options.forEach((o) => enumsOf(o, out));
  else if (spec.kind === 'tuple') spec.items.forEach((o) => enumsOf(o, out));
  return out;
}

function containsZod(spec: TypeSpec): boolean {
  if (spec.kind === 'zod') return true;
  if (spec.kind === 'list') return !!spec.item && containsZod(spec.item);
  if (spec.kind === 'dict') return !!spec.value && containsZod(spec.value);
  if (spec.kind === 'union') return spec.options.some(containsZod);
  if (spec.kind === 'tuple') return spec.items.some(containsZod);
  return false;
}

function makeField(init: FieldInit | Field, registry: TypeRegistry, where: string): Field {
  if (isField(init)) return init;
  if (typeof init.name !== 'string' || !NAME_RE.test(init.name)) {
    throw new SignatureParseError(`${where}: invalid field name ${JSON.stringify(init.name)} (use letters, digits and _, not starting with a digit)`, where);
  }
  const t = init.type ?? 'str';
  let spec: TypeSpec;
  let schema: z.ZodType | undefined;
  let type: string;
  if (typeof t === 'string') {
    try {
      spec = parseTypeString(t, registry);
    } catch (e) {
      throw new SignatureParseError(`${where}: field \`${init.name}\` has a bad type: ${(e as Error).message}`, where);
    }
    type = typeName(spec);
    if (containsZod(spec)) {
      schema = spec.kind === 'zod' ? spec.schema : toZod(spec);
      spec = { kind: 'zod', schema, name: type };
    }
  } else {
    schema = t;
    type = init.typeName ?? zodTypeName(t);
    spec = { kind: 'zod', schema, name: type };
  }
  const description = init.description !== undefined && init.description !== `\${${init.name}}` ? init.description : undefined;
  const field: Field = Object.freeze({
    name: init.name,
    type,
    ...(description !== undefined ? { description } : {}),
    prefix: init.prefix ?? `${inferPrefix(init.name)}:`,
    ...(schema ? { schema } : {}),
  });
  specCache.set(field, spec);
  return field;
}

/** Split on `->` outside brackets and quotes (a Literal value may contain one). */
function splitArrows(s: string): string[] {
  return splitOutside(s, '->');
}

/** Split on commas that are not inside brackets or quotes. */
function splitTopLevel(s: string): string[] {
  return splitOutside(s, ',');
}

/** Split on `sep` where it stands outside brackets and quotes. */
function splitOutside(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '(') depth++;
    else if (c === ']' || c === ')') depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      parts.push(s.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

export class Signature {
  readonly inputFields: readonly Field[];
  readonly outputFields: readonly Field[];
  readonly instructions: string;

  constructor(init: SignatureInit) {
    const registry = init.types ?? {};
    const where = 'Signature';
    this.inputFields = Object.freeze(init.inputs.map((f) => makeField(f, registry, where)));
    this.outputFields = Object.freeze(init.outputs.map((f) => makeField(f, registry, where)));
    if (this.outputFields.length === 0) throw new SignatureParseError(`${where}: a signature needs at least one output field`, where);
    const seen = new Set<string>();
    for (const f of [...this.inputFields, ...this.outputFields]) {
      if (seen.has(f.name)) throw new SignatureParseError(`${where}: field \`${f.name}\` appears more than once`, where);
      seen.add(f.name);
    }
    this.instructions = init.instructions?.trim()
      ? init.instructions
      : defaultInstructions(
          this.inputFields.map((f) => f.name),
          this.outputFields.map((f) => f.name),
        );
    Object.freeze(this);
  }

  /**
   * Parse DSPy's string form: `"a, b: int -> c: list[str]"`. Inputs may be empty (`"-> c"`);
   * outputs may not. Errors name the part of the string that is wrong.
   */
  static parse(spec: string, instructions?: string, options: SignatureParseOptions = {}): Signature {
    const q = JSON.stringify(spec);
    const arrows = splitArrows(spec);
    if (arrows.length !== 2) {
      throw new SignatureParseError(
        `Invalid signature ${q}: expected exactly one "->" between inputs and outputs, found ${arrows.length - 1}`,
        spec,
      );
    }
    const side = (text: string, role: FieldRole): FieldInit[] => {
      if (text.trim() === '') return [];
      return splitTopLevel(text).map((part, i) => {
        const label = `${role} field ${i + 1} (${JSON.stringify(part.trim())})`;
        const p = part.trim();
        if (!p) throw new SignatureParseError(`Invalid signature ${q}: ${role} field ${i + 1} is empty (stray comma?)`, spec);
        const colon = p.indexOf(':');
        const name = (colon < 0 ? p : p.slice(0, colon)).trim();
        const type = colon < 0 ? 'str' : p.slice(colon + 1).trim();
        if (!NAME_RE.test(name)) {
          throw new SignatureParseError(`Invalid signature ${q}: ${label}: ${JSON.stringify(name)} is not a valid field name`, spec);
        }
        if (!type) throw new SignatureParseError(`Invalid signature ${q}: ${label}: missing type after ":"`, spec);
        try {
          parseTypeString(type, options.types);
        } catch (e) {
          throw new SignatureParseError(`Invalid signature ${q}: ${label}: ${(e as Error).message}`, spec);
        }
        const init: FieldInit = { name, type };
        const d = options.descriptions?.[name];
        if (d !== undefined) init.description = d;
        const px = options.prefixes?.[name];
        if (px !== undefined) init.prefix = px;
        return init;
      });
    };
    const inputs = side(arrows[0]!, 'input');
    const outputs = side(arrows[1]!, 'output');
    if (outputs.length === 0) throw new SignatureParseError(`Invalid signature ${q}: no output fields after "->"`, spec);
    try {
      return new Signature({ inputs, outputs, ...(instructions !== undefined ? { instructions } : {}), ...(options.types ? { types: options.types } : {}) });
    } catch (e) {
      if (e instanceof SignatureParseError) throw new SignatureParseError(e.message.replace(/^Signature/, `Invalid signature ${q}`), spec);
      throw e;
    }
  }

  /** Accepts a Signature or its string form. */
  static from(sig: Signature | string, instructions?: string): Signature {
    return typeof sig === 'string' ? Signature.parse(sig, instructions) : instructions !== undefined ? sig.withInstructions(instructions) : sig;
  }

  /** Inputs then outputs. */
  get fields(): readonly Field[] {
    return [...this.inputFields, ...this.outputFields];
  }

  /** Input field names, in order. */
  get inputNames(): string[] {
    return this.inputFields.map((f) => f.name);
  }

  /** Output field names, in order. */
  get outputNames(): string[] {
    return this.outputFields.map((f) => f.name);
  }

  /** The field called `name`, if any. */
  field(name: string): Field | undefined {
    return this.inputFields.find((f) => f.name === name) ?? this.outputFields.find((f) => f.name === name);
  }

  /** Whether `name` is an input or an output field (undefined when neither). */
  roleOf(name: string): FieldRole | undefined {
    if (this.inputFields.some((f) => f.name === name)) return 'input';
    if (this.outputFields.some((f) => f.name === name)) return 'output';
    return undefined;
  }

  /** True when instructions are DSPy's default text for the current fields. */
  get hasDefaultInstructions(): boolean {
    return this.instructions === defaultInstructions(this.inputNames, this.outputNames);
  }

  /** The same fields with other instructions. */
  withInstructions(instructions: string): Signature {
    return new Signature({ inputs: this.inputFields, outputs: this.outputFields, instructions });
  }

  /** Insert a field first among its role's fields (`role` defaults to `output`, as in ChainOfThought). Instructions are kept. */
  prepend(field: FieldInit & { role?: FieldRole }, types?: TypeRegistry): Signature {
    return this.insert(field, 'start', types);
  }

  /** Insert a field last among its role's fields (`role` defaults to `output`). Instructions are kept. */
  append(field: FieldInit & { role?: FieldRole }, types?: TypeRegistry): Signature {
    return this.insert(field, 'end', types);
  }

  private insert(field: FieldInit & { role?: FieldRole }, at: 'start' | 'end', types?: TypeRegistry): Signature {
    const { role = 'output', ...init } = field;
    const f = makeField(init, types ?? {}, 'Signature');
    const ins = role === 'input' ? (at === 'start' ? [f, ...this.inputFields] : [...this.inputFields, f]) : this.inputFields;
    const outs = role === 'output' ? (at === 'start' ? [f, ...this.outputFields] : [...this.outputFields, f]) : this.outputFields;
    return new Signature({ inputs: ins, outputs: outs, instructions: this.instructions });
  }

  /** Remove a field. Instructions are kept. */
  without(name: string): Signature {
    this.require(name);
    return new Signature({
      inputs: this.inputFields.filter((f) => f.name !== name),
      outputs: this.outputFields.filter((f) => f.name !== name),
      instructions: this.instructions,
    });
  }

  /** Change a field's type, description or prefix (DSPy's `with_updated_fields`). */
  withUpdatedField(name: string, patch: Partial<Omit<FieldInit, 'name'>>, types?: TypeRegistry): Signature {
    const old = this.require(name);
    const registry = types ?? {};
    const update = (f: Field): Field => {
      if (f.name !== name) return f;
      const init: FieldInit = {
        name,
        type: patch.type ?? old.schema ?? old.type,
        prefix: patch.prefix ?? old.prefix,
      };
      const typeNameValue = patch.typeName ?? (patch.type === undefined && old.schema ? old.type : undefined);
      if (typeNameValue !== undefined) init.typeName = typeNameValue;
      const desc = 'description' in patch ? patch.description : old.description;
      if (desc !== undefined) init.description = desc;
      return makeField(init, { ...enumsOf(fieldTypeSpec(old)), ...registry }, 'Signature');
    };
    return new Signature({ inputs: this.inputFields.map(update), outputs: this.outputFields.map(update), instructions: this.instructions });
  }

  private require(name: string): Field {
    const f = this.field(name);
    if (!f) throw new Error(`Signature has no field \`${name}\` (fields: ${this.fields.map((x) => x.name).join(', ')})`);
    return f;
  }

  /** The string form, e.g. `question, k: int -> answer`. */
  toString(): string {
    const side = (fs: readonly Field[]) => fs.map((f) => (f.type === 'str' ? f.name : `${f.name}: ${f.type}`)).join(', ');
    return `${side(this.inputFields)} -> ${side(this.outputFields)}`;
  }

  /** DSPy's `dump_state` (instructions; prefix and description per field, `${name}` when none) plus name, role and type. */
  toJSON(): SignatureJSON {
    const dumpField = (role: FieldRole) => (f: Field): SignatureFieldJSON => ({
      name: f.name,
      role,
      type: f.type,
      prefix: f.prefix,
      description: f.description ?? `\${${f.name}}`,
    });
    return {
      instructions: this.instructions,
      fields: [...this.inputFields.map(dumpField('input')), ...this.outputFields.map(dumpField('output'))],
    };
  }

  /** Rebuild from `toJSON()`. Structured (zod) types must be supplied in `types` by name. */
  static fromJSON(json: SignatureJSON, options: { types?: TypeRegistry } = {}): Signature {
    const bad = (msg: string) => new SignatureParseError(`Invalid signature JSON: ${msg}`, JSON.stringify(json));
    if (!json || typeof json.instructions !== 'string' || !Array.isArray(json.fields)) {
      throw bad('expected {instructions: string, fields: [...]}');
    }
    const inputs: FieldInit[] = [];
    const outputs: FieldInit[] = [];
    json.fields.forEach((f, i) => {
      if (!f || typeof f.name !== 'string') throw bad(`fields[${i}] has no name`);
      if (f.role !== 'input' && f.role !== 'output') throw bad(`fields[${i}] (${f.name}) has role ${JSON.stringify(f.role)}, expected "input" or "output"`);
      const init: FieldInit = { name: f.name, type: f.type ?? 'str' };
      if (typeof f.prefix === 'string') init.prefix = f.prefix;
      if (typeof f.description === 'string') init.description = f.description;
      (f.role === 'input' ? inputs : outputs).push(init);
    });
    try {
      return new Signature({ inputs, outputs, instructions: json.instructions, ...(options.types ? { types: options.types } : {}) });
    } catch (e) {
      throw bad((e as Error).message);
    }
  }

  /**
   * DSPy's `load_state`: apply saved instructions and per-field prefix/description, by
   * position (inputs then outputs), keeping names and types. The field count must match.
   */
  withState(state: SignatureState): Signature {
    const all = this.fields;
    if (!state || typeof state.instructions !== 'string' || !Array.isArray(state.fields)) {
      throw new Error('Invalid signature state: expected {instructions: string, fields: [...]}');
    }
    if (state.fields.length !== all.length) {
      throw new Error(`Invalid signature state: ${state.fields.length} fields saved, signature \`${this.toString()}\` has ${all.length}`);
    }
    const saved = state.fields as ReadonlyArray<{ prefix?: string; description?: string; name?: unknown }>;
    saved.forEach((s, i) => {
      if (typeof s.name === 'string' && s.name !== all[i]!.name) {
        throw new Error(`Invalid signature state: field ${i + 1} is \`${s.name}\`, signature has \`${all[i]!.name}\``);
      }
    });
    const apply = (f: Field, i: number): Field => {
      const s = state.fields[i]!;
      const init: FieldInit = { name: f.name, type: f.schema ?? f.type, typeName: f.type, prefix: s.prefix ?? f.prefix };
      const desc = s.description ?? f.description;
      if (desc !== undefined) init.description = desc;
      return makeField(init, enumsOf(fieldTypeSpec(f)), 'Signature');
    };
    const n = this.inputFields.length;
    return new Signature({
      inputs: this.inputFields.map((f, i) => apply(f, i)),
      outputs: this.outputFields.map((f, i) => apply(f, n + i)),
      instructions: state.instructions,
    });
  }
}
