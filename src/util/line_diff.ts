// Line diff: the `diff` package's Myers diff over arrays of lines (the same package the report's
// word diff uses), plus a unified-style formatter. Past `maxEditLength` edits the middle is
// reported as one whole replacement instead of spending quadratic time on two unrelated texts.
import { diffArrays } from 'diff';

export interface DiffLine {
  op: ' ' | '-' | '+';
  line: string;
}

/** A minimal diff of two line arrays: removed lines before the added ones in each change. */
export function diffLines(a: string[], b: string[], maxEditLength = 4_000): DiffLine[] {
  const changes = diffArrays(a, b, { maxEditLength });
  if (!changes) return wholeReplacement(a, b);
  const out: DiffLine[] = [];
  for (const c of changes) {
    const op = c.added ? '+' : c.removed ? '-' : ' ';
    for (const line of c.value) out.push({ op, line });
  }
  return out;
}

/** Common prefix and suffix kept, everything between them removed then added. */
function wholeReplacement(a: string[], b: string[]): DiffLine[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  return [
    ...a.slice(0, pre).map((line) => ({ op: ' ' as const, line })),
    ...a.slice(pre, a.length - suf).map((line) => ({ op: '-' as const, line })),
    ...b.slice(pre, b.length - suf).map((line) => ({ op: '+' as const, line })),
    ...a.slice(a.length - suf).map((line) => ({ op: ' ' as const, line })),
  ];
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
