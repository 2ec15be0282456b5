import * as z from 'zod';

/** JSON object with any fields (configs, inputs, optimizer options...). */
export const JsonObject = z.record(z.string(), z.unknown());

export const ProgressToken = z.union([z.string(), z.int()]).describe(
  'When given on a long request, the sidecar sends $/progress {token, value} notifications with it',
);

export const RequestId = z.union([z.string(), z.number()]);

export const TokenUsage = z.object({
  inputTokens: z.int().nonnegative(),
  outputTokens: z.int().nonnegative(),
});

/** Cumulative LM usage of a run (every LM call is counted). */
export const UsageSummary = z.object({
  calls: z.int().nonnegative(),
  cacheHits: z.int().nonnegative(),
  inputTokens: z.int().nonnegative(),
  outputTokens: z.int().nonnegative(),
  costUsd: z.number().nonnegative(),
  sent: z.int().nonnegative().optional().describe('Requests that reached a provider (cache hits excluded, aborted included)'),
  aborted: z.int().nonnegative().optional().describe('Requests sent then aborted (cancelled or timed out); charged all the same'),
});
export type UsageSummary = z.infer<typeof UsageSummary>;

/** Caps on a run; the run stops (cutShort) when one is reached. */
export const BudgetLimits = z.object({
  maxCalls: z.int().nonnegative().optional(),
  maxTokens: z.int().nonnegative().optional(),
  maxUsd: z.number().nonnegative().optional(),
  maxWallMs: z.int().nonnegative().optional(),
});
export type BudgetLimits = z.infer<typeof BudgetLimits>;

export const EmptyObject = z.object({});
