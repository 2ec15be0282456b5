/**
 * YAML in and out, safely.
 *
 * Loading uses js-yaml's CORE schema plus merge keys (`<<`): plain data only. Any custom tag
 * (`!!js/function`, `!!js/regexp`, `!ruby/object`, ...) is refused with a clear error rather than
 * constructed. Timestamps are deliberately *not* resolved (a `version: 2024-01-01` stays the
 * string it was), so a load/save round trip cannot turn strings into dates.
 *
 * Dumping keeps key order (insertion order of the loaded objects), never emits anchors/aliases
 * (`noRefs`), never folds long lines, and uses the DEFAULT schema so that strings which other
 * YAML loaders would read as something else (dates, `yes`, `1e3`) come out quoted.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import yaml from 'js-yaml';
import { checkLimit, InputRefusedError, limits } from '../util/limits.js';
import { PipelineYamlError } from './errors.js';

// js-yaml exports its built-in types at runtime; @types/js-yaml does not declare them.
const builtinTypes = (yaml as unknown as { types: { merge: yaml.Type } }).types;
const LOAD_SCHEMA = yaml.CORE_SCHEMA.extend([builtinTypes.merge]);

/**
 * Loads pipeline YAML, refusing text over `ELEXIRION_MAX_YAML_BYTES` and documents whose
 * alias-expanded size passes `ELEXIRION_MAX_YAML_EXPANDED_BYTES` (a 1 KB file of nested
 * anchors expands to hundreds of MB the first time anything serializes it).
 */
export function loadYaml(text: string, source?: string): unknown {
  const where = source ?? 'pipeline YAML';
  checkLimit('maxYamlBytes', Buffer.byteLength(text, 'utf8'), `pipeline YAML ${where}`, source);
  const value = parseYaml(text, source);
  const max = limits().maxYamlExpandedBytes;
  let size: number;
  try {
    size = expandedJsonBytes(value, max);
  } catch (err) {
    if (err instanceof RangeError) throw new PipelineYamlError('the document is nested too deeply', source);
    throw err;
  }
  if (size > max) {
    throw new InputRefusedError(
      `pipeline YAML ${where} expands (aliases resolved) to more than ${max} bytes: refused as an alias bomb or oversized document (raise ELEXIRION_MAX_YAML_EXPANDED_BYTES to allow more)`,
      { ...(source !== undefined ? { path: source } : {}), limit: 'ELEXIRION_MAX_YAML_EXPANDED_BYTES', max, actual: size, kind: 'yaml-expansion' },
    );
  }
  return value;
}

/** Texts up to this size are parsed inline: a worker's start costs more than their parse. */
export const OFF_THREAD_MIN_BYTES = 64 * 1024;
const WORKER_URL = new URL('./yaml_worker.js', import.meta.url);

/**
 * `loadYaml` on a worker thread for texts over `OFF_THREAD_MIN_BYTES`: parsing megabytes of
 * YAML takes the CPU for seconds, and on the main thread it would keep the sidecar from
 * seeing stdin EOF or SIGTERM (the process must leave within 1 s of either). The worker is
 * abandoned (terminated) when `signal` aborts and dies with the process. Where the compiled
 * worker is absent (running from TypeScript sources), it parses inline.
 */
export async function loadYamlOffThread(text: string, source?: string, signal?: AbortSignal): Promise<unknown> {
  if (text.length <= OFF_THREAD_MIN_BYTES || !existsSync(WORKER_URL)) return loadYaml(text, source);
  // Cheap limit first, before a worker is started for text that will be refused anyway.
  checkLimit('maxYamlBytes', Buffer.byteLength(text, 'utf8'), `pipeline YAML ${source ?? 'pipeline YAML'}`, source);
  signal?.throwIfAborted();
  const worker = new Worker(WORKER_URL, { workerData: { text, source } });
  worker.unref(); // never what keeps the process alive
  try {
    const reply = await new Promise<{ ok: boolean; value?: unknown; name?: string; message?: string; data?: unknown }>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`YAML worker exited with code ${code} before answering`)));
    });
    if (reply.ok) return reply.value;
    if (reply.name === 'InputRefusedError') throw new InputRefusedError(reply.message ?? '', (reply.data ?? {}) as InputRefusedError['data']);
    if (reply.name === 'PipelineYamlError') {
      const e = new PipelineYamlError('', source);
      e.message = reply.message ?? e.message;
      throw e;
    }
    throw new Error(reply.message);
  } finally {
    void worker.terminate();
  }
}

/**
 * The size of `value` as JSON text with every shared (aliased) node written out in full, as
 * `JSON.stringify` would produce it, give or take separators. Shared nodes are measured once
 * (memoized by identity), so the cost is linear in the *file*, not in its expansion; the sum
 * stops growing once past `stopAbove`. A cycle (impossible in js-yaml output, but cheap to
 * rule out) counts as infinite.
 */
export function expandedJsonBytes(value: unknown, stopAbove = Number.MAX_SAFE_INTEGER): number {
  const memo = new Map<object, number>();
  const cap = (n: number): number => (n > stopAbove ? stopAbove + 1 : n);
  const visit = (v: unknown): number => {
    if (v === null || v === undefined) return 4;
    switch (typeof v) {
      case 'string':
        return v.length + 2;
      case 'number':
      case 'bigint':
      case 'boolean':
        return String(v).length;
      case 'object':
        break;
      default:
        return 4;
    }
    const obj = v as object;
    const known = memo.get(obj);
    if (known !== undefined) {
      if (known < 0) return stopAbove + 1; // cycle
      return known;
    }
    memo.set(obj, -1);
    let total = 2;
    if (Array.isArray(obj)) {
      for (const item of obj) {
        total = cap(total + visit(item) + 1);
        if (total > stopAbove) break;
      }
    } else if (obj instanceof Date) {
      total = 26;
    } else {
      for (const [k, item] of Object.entries(obj)) {
        total = cap(total + k.length + 4 + visit(item));
        if (total > stopAbove) break;
      }
    }
    memo.set(obj, total);
    return total;
  };
  return visit(value);
}

function parseYaml(text: string, source?: string): unknown {
  try {
    return yaml.load(text, { schema: LOAD_SCHEMA, filename: source ?? 'pipeline.yaml', json: false });
  } catch (err) {
    if (err instanceof RangeError) throw new PipelineYamlError('the document is nested too deeply', source);
    if (err instanceof yaml.YAMLException) {
      const m = /unknown tag !<([^>]*)>/.exec(err.message);
      if (m) {
        const tag = (m[1] ?? '').replace(/^tag:yaml\.org,2002:/, '!!');
        throw new PipelineYamlError(
          `custom YAML tag ${tag} is not allowed: only plain YAML data (maps, lists, strings, numbers, booleans, null) is accepted` +
            (err.mark ? ` (line ${err.mark.line + 1}, column ${err.mark.column + 1})` : ''),
          source,
        );
      }
      throw new PipelineYamlError(err.message, source);
    }
    throw err;
  }
}

export function dumpYaml(value: unknown): string {
  return yaml.dump(value, {
    schema: yaml.DEFAULT_SCHEMA,
    noRefs: true,
    lineWidth: -1,
    sortKeys: false,
    skipInvalid: false,
  });
}
