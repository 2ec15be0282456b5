// A minimal line diff (longest common subsequence) for the ledger's prompt diffs.
// Common prefix and suffix are trimmed first; the LCS table is O(n*m), so past maxCells the
// middle is reported as a whole replacement instead.
import { sortKeysDeep } from '../util/canonical_json.js';
export interface DiffLine {
  op: ' ' | '-' | '+';
  line: string;
}

export function diffLines(a: string[], b: string[], maxCells = 4_000_000): DiffLine[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const out: DiffLine[] = a.slice(0, pre).map((line) => ({ op: ' ', line }));
  const n = am.length;
  const m = bm.length;
  if (n * m > maxCells) {
    for (const line of am) out.push({ op: '-', line });
    for (const line of bm) out.push({ op: '+', line });
  } else {
    // lcs[i][j] = LCS length of am[i..] and bm[j..]
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        lcs[i * w + j] = am[i] === bm[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (am[i] === bm[j]) {
        out.push({ op: ' ', line: am[i]! });
        i++;
        j++;
      } else if (lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!) out.push({ op: '-', line: am[i++]! });
      else out.push({ op: '+', line: bm[j++]! });
    }
    while (i < n) out.push({ op: '-', line: am[i++]! });
    while (j < m) out.push({ op: '+', line: bm[j++]! });
  }
  for (const line of a.slice(a.length - suf)) out.push({ op: ' ', line });
  return out;
}

/** Unified-style text of the changed lines with `context` unchanged lines around each change. */
export function formatDiff(diff: DiffLine[], context = 2): string {
  const keep = new Array<boolean>(diff.length).fill(false);
  diff.forEach((d, i) => {
    if (d.op === ' ') return;
    for (let k = Math.max(0, i - context); k <= Math.min(diff.length - 1, i + context); k++) keep[k] = true;
  });
  const out: string[] = [];
  let gap = false;
  diff.forEach((d, i) => {
    if (!keep[i]) {
      gap = true;
      return;
    }
    if (gap && out.length) out.push('...');
    gap = false;
    out.push(`${d.op}${d.line}`);
  });
  return out.join('\n');
}

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
