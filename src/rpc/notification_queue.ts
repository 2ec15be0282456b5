import type { Logger } from 'pino';

/**
 * Inbound notifications run one at a time, in arrival order, through this queue. It holds at
 * most `max` notifications (waiting + running); past that, new ones are dropped and counted,
 * so a flood (e.g. telemetry/events) costs bounded memory instead of an unbounded backlog.
 * Drops are logged at most once per second with per-method counts.
 */
export class NotificationQueue {
  private readonly items: Array<{ method: string; run: () => unknown }> = [];
  private head = 0;
  private running = false;
  private droppedTotal = 0;
  private droppedSinceLog = new Map<string, number>();
  private lastDropLog = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly max: number,
    private readonly logger?: Logger,
  ) {}

  get size(): number {
    return this.items.length - this.head + (this.running ? 1 : 0);
  }

  get dropped(): number {
    return this.droppedTotal;
  }

  /** Queues a job; returns false when it was dropped because the queue is full. */
  push(method: string, run: () => unknown): boolean {
    if (this.size >= this.max) {
      this.droppedTotal += 1;
      this.droppedSinceLog.set(method, (this.droppedSinceLog.get(method) ?? 0) + 1);
      const now = Date.now();
      if (now - this.lastDropLog >= 1000) {
        this.lastDropLog = now;
        this.logger?.warn(
          { dropped: Object.fromEntries(this.droppedSinceLog), droppedTotal: this.droppedTotal, bound: this.max },
          'notification queue full: dropping inbound notifications',
        );
        this.droppedSinceLog.clear();
      }
      return false;
    }
    this.items.push({ method, run });
    if (!this.running) this.pump();
    return true;
  }

  /** Resolves when every queued notification has been handled. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    this.running = true;
    while (this.head < this.items.length) {
      const item = this.items[this.head]!;
      this.head += 1;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        this.head = 0;
      }
      let out: unknown;
      try {
        out = item.run();
      } catch (err) {
        this.logError(item.method, err);
        continue;
      }
      if (out && typeof (out as PromiseLike<unknown>).then === 'function') {
        (out as Promise<unknown>).then(
          () => this.pump(),
          (err: unknown) => {
            this.logError(item.method, err);
            this.pump();
          },
        );
        return; // still running
      }
    }
    this.running = false;
    this.items.length = 0;
    this.head = 0;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private logError(method: string, err: unknown): void {
    this.logger?.error({ method, err }, 'notification handler failed');
  }
}
