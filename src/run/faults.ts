/**
 * Provider faults seen anywhere in a run. The LM calls Elixir makes for a run arrive as
 * separate `lm/generate` requests: when one fails for good with a transient fault (429, 5xx,
 * timeout, dropped connection, after the provider's retries), the execution that made it fails
 * in Elixir and comes back as a plain execution error. Reporting the fault here first aborts
 * the run's signal with the fault as its reason, so the optimizer sees a stop (the run ends
 * cleanly, best so far) rather than a failed example it would journal as finished work.
 */
import { setMaxListeners } from 'node:events';
import { isTransientFault } from '../optimizers/run.js';

export class RunFaults {
  private readonly controller = new AbortController();

  constructor() {
    setMaxListeners(0, this.controller.signal); // every LM call in flight listens to it
  }

  /** Aborted, with the fault as its reason, at the first transient fault reported. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get fault(): Error | undefined {
    return this.controller.signal.aborted ? (this.controller.signal.reason as Error) : undefined;
  }

  /** Records `err` when it is a transient provider fault; returns whether it was one. */
  report(err: unknown): boolean {
    if (!isTransientFault(err)) return false;
    // Stryker disable next-line ConditionalExpression: aborting an aborted controller changes nothing (the first fault stays the reason)
    if (!this.controller.signal.aborted) this.controller.abort(err);
    return true;
  }
}

export { isTransientFault };
