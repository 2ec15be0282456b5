// The seed's quality heuristic (design doc, "Telemetry Integration"):
//   status success and findings non-empty -> 8.5; status success -> 7.0; partial -> 5.0; else 2.0.
//
// Fields read, in order (the first present wins):
//   status:   metadata.result.status, then metadata.status, then measurements.success /
//             metadata.success (true -> "success", false -> "error"), else "unknown".
//             "success" and "ok" (the pipeline/execute spelling) both count as success;
//             Elixir atoms arrive as strings, so :success is "success".
//   findings: metadata.result.findings, metadata.result.output.findings (the pipeline/execute
//             wire result puts the pipeline's own output under `output`), then
//             metadata.findings; must be a non-empty array.
export const QUALITY = { successWithFindings: 8.5, success: 7.0, partial: 5.0, other: 2.0 } as const;

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

export function readStatus(measurements: Dict, metadata: Dict): string {
  const result = metadata['result'];
  if (isDict(result) && typeof result['status'] === 'string') return normaliseStatus(result['status']);
  if (typeof metadata['status'] === 'string') return normaliseStatus(metadata['status']);
  const flag = typeof measurements['success'] === 'boolean' ? measurements['success'] : metadata['success'];
  if (flag === true) return 'success';
  if (flag === false) return 'error';
  return 'unknown';
}

function normaliseStatus(s: string): string {
  const t = s.startsWith(':') ? s.slice(1) : s;
  return t === 'ok' ? 'success' : t;
}

export function readFindings(metadata: Dict): unknown[] | undefined {
  const result = metadata['result'];
  if (isDict(result)) {
    if (Array.isArray(result['findings'])) return result['findings'];
    const out = result['output'];
    if (isDict(out) && Array.isArray(out['findings'])) return out['findings'];
  }
  return Array.isArray(metadata['findings']) ? metadata['findings'] : undefined;
}

export function qualityScore(status: string, findings: unknown[] | undefined): number {
  if (status === 'success') return findings && findings.length > 0 ? QUALITY.successWithFindings : QUALITY.success;
  if (status === 'partial') return QUALITY.partial;
  return QUALITY.other;
}
