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
import yaml from 'js-yaml';
import { PipelineYamlError } from './errors.js';

// js-yaml exports its built-in types at runtime; @types/js-yaml does not declare them.
const builtinTypes = (yaml as unknown as { types: { merge: yaml.Type } }).types;
const LOAD_SCHEMA = yaml.CORE_SCHEMA.extend([builtinTypes.merge]);

export function loadYaml(text: string, source?: string): unknown {
  try {
    return yaml.load(text, { schema: LOAD_SCHEMA, filename: source ?? 'pipeline.yaml', json: false });
  } catch (err) {
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
