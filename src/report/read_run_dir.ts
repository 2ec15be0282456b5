/**
 * Reads a run directory for the report: `run.json` (see run_record.ts), size-capped and checked
 * against its schema. A run directory without it (a run killed before it finished) still gets a
 * report: its trials are rebuilt from the journal's scored records where they say their score.
 */
import { ElexirionError } from '../errors.js';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { RUN_RECORD_FILE, RUN_RECORD_FORMAT, RunRecord } from './run_record.js';
import { JOURNAL_FILE } from '../optimizers/journal.js';

/** A run record larger than this is refused rather than read (a report of it would not load). */
export const MAX_RUN_RECORD_BYTES = 64 * 1024 * 1024;

export class ReportInputError extends ElexirionError {
  override readonly code: string = 'REPORT_INPUT_ERROR';
  override readonly name = 'ReportInputError';
}

async function readCapped(path: string, max: number): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ReportInputError(`${path} is not a regular file`);
    if (st.size > max) throw new ReportInputError(`${path} is ${st.size} bytes; the report reads at most ${max}`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

function fromJournal(runDir: string, text: string): RunRecord {
  const trials: RunRecord['trials'] = [];
  let optimizer = 'unknown';
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let rec: { type?: string; optimizer?: string; key?: string; value?: { score?: unknown } };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      break; // a damaged line ends what can be trusted
    }
    if (rec.type === 'header' && typeof rec.optimizer === 'string') optimizer = rec.optimizer;
    if (rec.type === 'entry' && typeof rec.value?.score === 'number') {
      trials.push({ trial: trials.length, kind: String(rec.key ?? 'trial').split('/')[0] as string, score: rec.value.score });
    }
  }
  return RunRecord.parse({
    format: RUN_RECORD_FORMAT,
    runId: basename(runDir),
    startedAt: 'unknown',
    settings: { optimizer },
    cutShort: true,
    cutShortReason: 'the run did not finish (no run.json): trials rebuilt from its journal',
    trials,
  });
}

export async function readRunDir(runDir: string): Promise<RunRecord> {
  const text = await readCapped(join(runDir, RUN_RECORD_FILE), MAX_RUN_RECORD_BYTES);
  if (text !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ReportInputError(`${join(runDir, RUN_RECORD_FILE)} is not valid JSON: ${(err as Error).message}`);
    }
    const r = RunRecord.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new ReportInputError(`${join(runDir, RUN_RECORD_FILE)}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    return r.data;
  }
  const journal = await readCapped(join(runDir, JOURNAL_FILE), MAX_RUN_RECORD_BYTES);
  if (journal === undefined) throw new ReportInputError(`${runDir} holds neither ${RUN_RECORD_FILE} nor ${JOURNAL_FILE}: not a run directory`);
  return fromJournal(runDir, journal);
}
