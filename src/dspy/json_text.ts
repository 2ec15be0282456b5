/**
 * JSON text helpers shared by the adapters and the dummy LM.
 *
 * - `pyJsonDumps` renders values the way DSPy's prompts show them (Python's
 *   `json.dumps(..., ensure_ascii=False)`: `", "` and `": "` separators), so a prompt built here
 *   reads exactly like one built by DSPy.
 * - `parseLenientJSON` accepts what LMs actually write: fenced blocks, Python literals,
 *   single-quoted strings, trailing commas, raw newlines inside strings, unquoted keys.
 */

/** Values that are not plain JSON (Examples, Dates, Maps) reduced to JSON-able ones. */
export function toJsonable(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object') {
    if (typeof value === 'bigint') return Number(value);
    if (typeof value === 'function' || typeof value === 'symbol') return String(value);
    return value;
  }
  if (Array.isArray(value)) return value.map(toJsonable);
  // An invalid Date has no ISO form (toISOString throws): shown as JS prints it.
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of value) o[String(k)] = toJsonable(v);
    return o;
  }
  if (value instanceof Set) return [...value].map(toJsonable);
  const asDict = (value as { toDict?: () => unknown }).toDict;
  if (typeof asDict === 'function') return toJsonable(asDict.call(value));
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) o[k] = toJsonable(v);
  }
  return o;
}

/** Python `json.dumps(value, ensure_ascii=False[, indent])`. */
export function pyJsonDumps(value: unknown, indent?: number): string {
  return dump(toJsonable(value), indent, 0);
}

function dump(v: unknown, indent: number | undefined, level: number): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : v > 0 ? 'Infinity' : v < 0 ? '-Infinity' : 'NaN';
  if (typeof v !== 'object') return JSON.stringify(v);
  const entries: string[] = [];
  const isArr = Array.isArray(v);
  if (isArr) for (const item of v) entries.push(dump(item, indent, level + 1));
  else for (const [k, item] of Object.entries(v as object)) entries.push(`${JSON.stringify(k)}: ${dump(item, indent, level + 1)}`);
  const [open, close] = isArr ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return open + close;
  if (indent === undefined) return open + entries.join(', ') + close;
  const pad = ' '.repeat(indent * (level + 1));
  return `${open}\n${pad}${entries.join(`,\n${pad}`)}\n${' '.repeat(indent * level)}${close}`;
}

/** Python's `repr()` of a JSON-able value: `{'a': [1, True, None]}` (as DSPy shows a tool's args). */
export function pyRepr(value: unknown): string {
  const v = toJsonable(value);
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan';
  if (typeof v === 'string') return pyStrRepr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  return `{${Object.entries(v as object).map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
}

/** Python's repr of a str: single quotes unless the text has ' and no ". */
function pyStrRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  const body = s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return q + (q === "'" ? body.replace(/'/g, "\\'") : body) + q;
}

/** The content of the first fenced code block (```json ... ```), if any. */
export function stripCodeFence(text: string): string {
  const m = /```[A-Za-z0-9_-]*[ \t]*\r?\n?([\s\S]*?)```/.exec(text);
  return m ? m[1]!.trim() : text.trim();
}

/**
 * The first balanced `{...}` in `text`, skipping braces inside strings; undefined if none.
 * (DSPy's JSONAdapter does the same with a recursive regex.)
 */
export function extractJsonObject(text: string): string | undefined {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  let depth = 0;
  let quote: string | undefined;
  for (let i = start; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"') quote = c;
    else if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return text.slice(start, i + 1);
    }
  }
  return undefined;
}

/** Parse JSON the way an LM writes it; throws SyntaxError when it cannot be read as JSON. */
export function parseLenientJSON(text: string): unknown {
  const body = stripCodeFence(text);
  try {
    return JSON.parse(body);
  } catch {
    return JSON.parse(normalizeJsonish(body));
  }
}

const PY_WORDS: Record<string, string> = { True: 'true', False: 'false', None: 'null', null: 'null', true: 'true', false: 'false' };

/** Rewrite JSON-ish text (Python literals, single quotes, trailing commas) into strict JSON. */
export function normalizeJsonish(s: string): string {
  let out = '';
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s[i]!;
    if (c === '"' || c === "'") {
      // Read a string delimited by c; re-emit it double-quoted with JSON escapes.
      let j = i + 1;
      let content = '';
      let closed = false;
      while (j < n) {
        const d = s[j]!;
        if (d === '\\' && j + 1 < n) {
          const e = s[j + 1]!;
          // \' is not a JSON escape; the others are kept as written.
          content += e === "'" ? "'" : d + e;
          j += 2;
          continue;
        }
        if (d === c) {
          closed = true;
          break;
        }
        if (d === '"') content += '\\"';
        else if (d === '\n') content += '\\n';
        else if (d === '\r') content += '\\r';
        else if (d === '\t') content += '\\t';
        else content += d;
        j++;
      }
      if (!closed) throw new SyntaxError(`unterminated string starting at ${i}`);
      out += `"${content}"`;
      i = j + 1;
      continue;
    }
    if (c === ',') {
      let j = i + 1;
      while (j < n && /\s/.test(s[j]!)) j++;
      if (j >= n || s[j] === '}' || s[j] === ']') {
        i++;
        continue;
      }
      out += c;
      i++;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /\w/.test(s[j]!)) j++;
      const word = s.slice(i, j);
      let k = j;
      while (k < n && /\s/.test(s[k]!)) k++;
      if (s[k] === ':') out += JSON.stringify(word);
      else if (word in PY_WORDS) out += PY_WORDS[word];
      else out += word;
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}
