import * as z from 'zod';
import { TokenUsage } from './common.js';

export const ChatMessage = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});

export const LmGenerateParams = z.object({
  messages: z.array(ChatMessage).min(1),
  lm: z.string().optional().describe('LM spec; the sidecar default when absent'),
  options: z
    .object({
      temperature: z.number().min(0).optional(),
      maxTokens: z.int().positive().optional(),
      rolloutId: z.union([z.string(), z.int()]).optional(),
      stop: z.array(z.string()).optional(),
    })
    .optional(),
  runId: z.string().optional().describe("Attribute the call to a running optimization's usage and budget"),
});
export type LmGenerateParams = z.infer<typeof LmGenerateParams>;

export const LmGenerateResult = z.object({
  text: z.string(),
  usage: TokenUsage,
  model: z.string(),
  cached: z.boolean(),
  costUsd: z.number().nonnegative(),
});
export type LmGenerateResult = z.infer<typeof LmGenerateResult>;
