// The unit of the execution store: one finished pipeline execution, derived from telemetry.
import * as z from 'zod';

export const StepSummarySchema = z.object({
  name: z.string(),
  success: z.boolean().nullable(),
  duration_ms: z.number().nullable(),
});
export type StepSummary = z.infer<typeof StepSummarySchema>;

export const ExecutionRecordSchema = z.object({
  /** record format version */
  v: z.literal(1),
  pipeline: z.string().min(1),
  execution_id: z.string().nullable(),
  /** normalised status: "success" | "partial" | "error" | whatever else the client said */
  status: z.string(),
  success: z.boolean(),
  duration_ms: z.number().nullable(),
  /** event time (client clock), unix ms */
  time: z.number(),
  input: z.unknown().optional(),
  output: z.unknown().optional(),
  quality: z.number(),
  steps: z.array(StepSummarySchema),
});
export type ExecutionRecord = z.infer<typeof ExecutionRecordSchema>;
