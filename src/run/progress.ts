import type { Meter } from '../lm/meter.js';
import type { UsageSummary } from '../protocol/common.js';
import type { RunProgress } from '../protocol/run.js';

/** The run's LM usage as the wire reports it, with the requests sent and aborted apart. */
export function usageSummary(meter: Meter): UsageSummary {
  const u = meter.usage.snapshot();
  return {
    calls: u.calls,
    cacheHits: u.cacheHits,
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    costUsd: u.costUsd,
    sent: u.sent,
    aborted: u.aborted,
  };
}

export type ProgressSink = (e: Partial<RunProgress> & { phase: string }) => void;

/** Progress events with the run's totals so far; a broken listener never breaks the run. */
export function progressSink(report: ((value: RunProgress) => void) | undefined, meter: Meter): ProgressSink {
  return (e) => {
    // Stryker disable next-line ConditionalExpression: calling a missing listener throws inside the try below, which drops the event the same way
    if (!report) return;
    const u = meter.usage.snapshot();
    try {
      report({ ...e, calls: e.calls ?? u.calls, costUsd: e.costUsd ?? u.costUsd });
    } catch {
      /* reporting must not break the run */
    }
  };
}
