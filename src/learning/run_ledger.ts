// The run ledger: one JSON line per optimization decision (promoted, rejected, skipped, failed),
// appended and fsynced before the decision takes effect, so the history survives any crash.
import { appendLineDurable, readJsonLines } from '../util/atomic_file.js';
import type { GuardDecision } from './promotion_guard.js';

export interface LedgerEntry {
  id: string;
  pipeline: string;
  time: string;
  mode: 'light' | 'full';
  trigger: string;
  decision: 'promoted' | 'rejected' | 'skipped' | 'failed';
  reason: string;
  scores?: { current: number[]; candidate: number[]; currentMean: number | null; candidateMean: number | null; meanDiff: number | null };
  interval?: GuardDecision['interval'];
  margin?: number;
  cost?: { usd?: number; calls?: number; inputTokens?: number; outputTokens?: number };
  promptDiff?: string;
  /** where the rejected candidate was kept */
  candidatePath?: string;
}

export class RunLedger {
  private chain: Promise<void> = Promise.resolve();
  constructor(readonly path: string) {}

  append(entry: LedgerEntry): Promise<void> {
    const write = this.chain.then(() => appendLineDurable(this.path, JSON.stringify(entry)));
    this.chain = write.catch(() => {});
    return write;
  }

  async entries(): Promise<LedgerEntry[]> {
    await this.chain;
    return (await readJsonLines(this.path)) as LedgerEntry[];
  }
}
