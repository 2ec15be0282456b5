import type { Meter } from '../lm/meter.js';
import type { RunFaults } from '../run/faults.js';

interface ActiveRun {
  meter: Meter;
  faults: RunFaults | undefined;
}

/**
 * Runs in progress, by run id. `lm/generate` calls that Elixir makes on behalf of a run (the
 * Reference executor's steps) arrive as separate requests, outside the optimizer's async
 * context: looking the run up here is how they are counted and capped by its budget, and how
 * a provider fault they meet stops the run instead of passing for a failed example.
 */
export class RunRegistry {
  private readonly runs = new Map<string, ActiveRun>();

  /** Registers the run for `runId` while `fn` runs; a second run with the same id is refused. */
  async with<T>(runId: string, meter: Meter, fn: () => Promise<T>, faults?: RunFaults): Promise<T> {
    if (this.runs.has(runId)) throw new Error(`run ${runId} is already in progress`);
    this.runs.set(runId, { meter, faults });
    try {
      return await fn();
    } finally {
      this.runs.delete(runId);
    }
  }

  meter(runId: string): Meter | undefined {
    return this.runs.get(runId)?.meter;
  }

  faults(runId: string): RunFaults | undefined {
    return this.runs.get(runId)?.faults;
  }

  active(): string[] {
    return [...this.runs.keys()];
  }
}
