import * as z from 'zod';
import { JsonObject } from './common.js';

/** Elixir -> Node: read a workflow YAML file and say whether pipeline_ex would load it. */
export const PipelineLoadParams = z.object({
  path: z
    .string()
    .min(1)
    .max(4096)
    .describe('pipeline_ex YAML file; relative to the sidecar working directory'),
});
export type PipelineLoadParams = z.infer<typeof PipelineLoadParams>;

export const PipelineRefusal = z.object({
  path: z.string().describe('Where the problem is, as written in the file: `workflow.steps[2].prompt`, `(root)`'),
  type: z.string().describe("The step's type (`workflow` for a workflow-level problem)"),
  reason: z.string(),
});

export const PipelineLoadResult = z.object({
  config: JsonObject.nullable().describe('The decoded file (string keys, as written); null when it is not a map'),
  name: z.string().nullable().describe('workflow.name, when there is one'),
  warnings: z.array(z.string()).describe('Problems pipeline_ex only meets when the step runs (nested steps are not checked at load)'),
  accepted: z.boolean().describe("pipeline_ex's loader accepts it and this project can model it"),
  refusal: PipelineRefusal.optional().describe('Why it is not accepted (the first problem)'),
});
export type PipelineLoadResult = z.infer<typeof PipelineLoadResult>;
