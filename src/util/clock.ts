/**
 * Injectable time: code that reads the time or arms timers does it only through a Clock, so
 * tests drive it with `FakeClock` instead of waiting (the learning scheduler, the LM rate
 * limiter).
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending timer alone must not keep the process alive.
    t.unref?.();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** A manual clock: time moves only in advance()/advanceTo()/jumpTo(), firing due timers in time order. */
export class FakeClock implements Clock {
  private t: number;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;

  constructor(start: number) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  pendingTimers(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`, firing each due timer at its own instant (earliest first, ties
   * in the order they were set); after each one `settle` is awaited so the async work it
   * started can finish.
   */
  async advance(ms: number, settle: () => Promise<void> = async () => {}): Promise<void> {
    await this.advanceTo(this.t + ms, settle);
  }

  async advanceTo(target: number, settle: () => Promise<void> = async () => {}): Promise<void> {
    for (;;) {
      let nextId = -1;
      let next: { at: number; fn: () => void } | undefined;
      for (const [id, tm] of this.timers) if (tm.at <= target && (!next || tm.at < next.at)) [nextId, next] = [id, tm];
      if (!next) break;
      this.timers.delete(nextId);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await settle();
    }
    this.t = Math.max(this.t, target);
    await settle();
  }

  /** Jumps to `target` without firing timers in between (a machine that was off). */
  jumpTo(target: number): void {
    this.t = target;
  }
}
