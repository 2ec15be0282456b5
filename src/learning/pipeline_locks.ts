// At most one optimization per pipeline at a time: a non-blocking per-name lock. A second
// trigger is not queued (it would optimize on the same data); the caller records the skip.
export class PipelineLocks {
  private held = new Map<string, number>();

  /** A release function, or null when `name` is already being optimized. */
  tryAcquire(name: string, now = Date.now()): (() => void) | null {
    if (this.held.has(name)) return null;
    this.held.set(name, now);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.delete(name);
    };
  }

  isLocked(name: string): boolean {
    return this.held.has(name);
  }

  /** Names being optimized, with the time each started. */
  running(): Record<string, number> {
    return Object.fromEntries(this.held);
  }
}
