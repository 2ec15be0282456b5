import type { Meter } from '../lm/meter.js';

/**
 * Runs in progress, by run id. `lm/generate` calls that Elixir makes on behalf of a run (the
 * Reference executor's steps) arrive as separate requests, outside the optimizer's async
 * context: looking the run's meter up here is how they are counted and capped by its budget.
 */
export class RunRegistry {
  private readonly meters = new Map<string, Meter>();

  /** Registers `meter` for `runId` while `fn` runs; a second run with the same id is refused. */
  async with<T>(runId: string, meter: Meter, fn: () => Promise<T>): Promise<T> {
    if (this.meters.has(runId)) throw new Error(`run ${runId} is already in progress`);
    this.meters.set(runId, meter);
    try {
      return await fn();
    } finally {
      this.meters.delete(runId);
    }
  }

  meter(runId: string): Meter | undefined {
    return this.meters.get(runId);
  }

  active(): string[] {
    return [...this.meters.keys()];
  }
}
