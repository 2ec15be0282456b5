import type { Logger } from 'pino';

/**
 * Warnings the peer can trigger at will (bad frames, malformed notifications) go through
 * this: at most `burst` of them per `windowMs`; the rest are counted, and the count is logged
 * as one warning when the window ends. 500,000 bad frames used to write 87.6 MB of logs.
 */
export class WarningLimiter {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly burst = 10,
    private readonly windowMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Total warnings suppressed so far (for tests and status). */
  suppressedTotal = 0;

  warn(obj: Record<string, unknown>, message: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow < this.burst) {
      this.inWindow += 1;
      this.logger.warn(obj, message);
      return;
    }
    this.suppressed += 1;
    this.suppressedTotal += 1;
    if (!this.timer) {
      // Report the count even if the flood stops now.
      this.timer = setTimeout(() => this.flush(), Math.max(1, this.windowMs - (t - this.windowStart)));
      this.timer.unref?.();
    }
  }

  /** Logs the count of warnings suppressed since the last report, if any. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed === 0) return;
    const n = this.suppressed;
    this.suppressed = 0;
    this.logger.warn({ suppressed: n, burst: this.burst, windowMs: this.windowMs }, `${n} similar warnings suppressed (at most ${this.burst} per ${this.windowMs} ms are logged)`);
  }
}
