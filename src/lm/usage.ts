/**
 * Counts every LM call: calls, cache hits, requests sent, aborted requests, billed tokens and
 * cost, in total and per model.
 *
 * - `calls`: LM calls made, cache hits included (`cacheHits` is the subset served from the
 *   cache), failed calls included once they were handed to the provider.
 * - `sent`: requests that reached a provider (what `maxCalls` caps and a provider bills): cache
 *   hits excluded; a provider's own retries each count; aborted ones count.
 * - `aborted`: sent requests cut off before their answer (cancelled, timed out, deadline). Their
 *   tokens are unknown: the input tokens are charged from an estimate, no output tokens.
 * Cache hits add no tokens and no cost: the tracker counts what was paid for, not what was read.
 */

export interface UsageRecord {
  model: string;
  inputTokens: number;
  outputTokens: number;
  cached: boolean;
  costUsd: number;
  /** Requests this call sent to the provider (retries included). Default: 1 unless cached. */
  requests?: number;
  /** Of those, the requests cut off before their answer. Default 0. */
  aborted?: number;
}

export interface ModelUsage {
  calls: number;
  cacheHits: number;
  sent: number;
  aborted: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface UsageSnapshot extends ModelUsage {
  byModel: Record<string, ModelUsage>;
}

function emptyUsage(): ModelUsage {
  return { calls: 0, cacheHits: 0, sent: 0, aborted: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
}

function add(into: ModelUsage, r: UsageRecord): void {
  into.calls += 1;
  if (r.cached) {
    into.cacheHits += 1;
    return;
  }
  into.sent += r.requests ?? 1;
  into.aborted += r.aborted ?? 0;
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

  /** Requests that reached a provider (what `maxCalls` caps). */
  get providerCalls(): number {
    return this.total.sent;
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
      // Snapshots written before `sent` existed: every non-cached call was one request.
      into.sent += s.sent ?? s.calls - s.cacheHits;
      into.aborted += s.aborted ?? 0;
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
