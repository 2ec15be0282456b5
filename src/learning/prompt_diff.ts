// The ledger's prompt diff: a program config as lines (instructions and demos per predictor),
// compared with the tree's line diff (src/util/line_diff.ts).
import { sortKeysDeep } from '../util/canonical_json.js';
import { diffLines, formatDiff } from '../util/line_diff.js';

/**
 * The lines a program config is compared by: for a DSPy-shaped saved program (predictor ->
 * {signature: {instructions}, demos}) the instructions and one line per demo; for anything else
 * its canonical pretty JSON.
 */
export function configLines(config: unknown): string[] {
  if (config && typeof config === 'object' && !Array.isArray(config)) {
    const entries = Object.entries(config as Record<string, unknown>).filter(
      ([, v]) => v !== null && typeof v === 'object' && ('demos' in (v as object) || 'signature' in (v as object)),
    );
    if (entries.length > 0) {
      const lines: string[] = [];
      for (const [name, v] of entries.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
        const p = v as { signature?: { instructions?: unknown }; demos?: unknown };
        lines.push(`## ${name}`);
        const instr = p.signature?.instructions;
        if (typeof instr === 'string') for (const l of instr.split('\n')) lines.push(`instructions: ${l}`);
        if (Array.isArray(p.demos)) for (const d of p.demos) lines.push(`demo: ${JSON.stringify(d)}`);
      }
      return lines;
    }
  }
  return stableStringify(config).split('\n');
}

function stableStringify(v: unknown): string {
  return JSON.stringify(sortKeysDeep(v), null, 2) ?? 'null';
}

/** The ledger's prompt diff between two configs. */
export function promptDiff(current: unknown, candidate: unknown, context = 2): string {
  return formatDiff(diffLines(configLines(current), configLines(candidate)), context);
}
