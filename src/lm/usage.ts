/**
 * Counts every LM call: calls, cache hits, billed tokens and cost, in total and per model.
 *
 * `calls` includes cache hits (`cacheHits` is the subset served from the cache). Cache hits
 * add no tokens and no cost: the tracker counts what was paid for, not what was read.
 */

export interface UsageRecord {
  model: string;
  inputTokens: number;
  outputTokens: number;
  cached: boolean;
  costUsd: number;
}

export interface ModelUsage {
  calls: number;
  cacheHits: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface UsageSnapshot extends ModelUsage {
  byModel: Record<string, ModelUsage>;
}

function emptyUsage(): ModelUsage {
  return { calls: 0, cacheHits: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
}

function add(into: ModelUsage, r: UsageRecord): void {
  into.calls += 1;
  if (r.cached) {
    into.cacheHits += 1;
    return;
  }
  into.inputTokens += r.inputTokens;
  into.outputTokens += r.outputTokens;
  into.costUsd += r.costUsd;
}

export class UsageTracker {
  private readonly total: ModelUsage = emptyUsage();
  private readonly perModel = new Map<string, ModelUsage>();

  record(r: UsageRecord): void {
    add(this.total, r);
    let m = this.perModel.get(r.model);
    if (!m) {
      m = emptyUsage();
      this.perModel.set(r.model, m);
    }
    add(m, r);
  }

  /** Calls that reached a provider (what `maxCalls` caps). */
  get providerCalls(): number {
    return this.total.calls - this.total.cacheHits;
  }

  get tokens(): number {
    return this.total.inputTokens + this.total.outputTokens;
  }

  get costUsd(): number {
    return this.total.costUsd;
  }

  snapshot(): UsageSnapshot {
    const byModel: Record<string, ModelUsage> = {};
    for (const [k, v] of this.perModel) byModel[k] = { ...v };
    return { ...this.total, byModel };
  }

  /** Adds another tracker's totals into this one (e.g. a run's usage into a session's). */
  merge(other: UsageSnapshot): void {
    const addSnap = (into: ModelUsage, s: ModelUsage) => {
      into.calls += s.calls;
      into.cacheHits += s.cacheHits;
      into.inputTokens += s.inputTokens;
      into.outputTokens += s.outputTokens;
      into.costUsd += s.costUsd;
    };
    addSnap(this.total, other);
    for (const [model, s] of Object.entries(other.byModel)) {
      let m = this.perModel.get(model);
      if (!m) {
        m = emptyUsage();
        this.perModel.set(model, m);
      }
      addSnap(m, s);
    }
  }

  reset(): void {
    Object.assign(this.total, emptyUsage());
    this.perModel.clear();
  }
}
