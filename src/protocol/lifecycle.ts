import * as z from 'zod';
import { InitializeOptions } from './learning.js';

export const InitializeParams = z.object({
  protocolVersion: z
    .string()
    .regex(/^\d+\.\d+$/, 'must look like "MAJOR.MINOR"')
    .describe('The protocol version the client speaks; a different MAJOR is refused'),
  clientInfo: z.object({ name: z.string(), version: z.string().optional() }).optional(),
  options: InitializeOptions.optional().describe('Sidecar options; `learning` configures continuous learning (PROTOCOL.md §8)'),
});
export type InitializeParams = z.infer<typeof InitializeParams>;

export const InitializeResult = z.object({
  protocolVersion: z.string(),
  serverInfo: z.object({ name: z.string(), version: z.string() }),
  capabilities: z.object({
    methods: z.array(z.string()).describe('Registered methods (requests and notifications) the sidecar handles'),
    optimizers: z.array(z.string()),
    lmProviders: z.array(z.string()),
    metrics: z.array(z.string()),
  }),
});
export type InitializeResult = z.infer<typeof InitializeResult>;

export const PingParams = z.object({});
export const PingResult = z.object({});
export const ShutdownParams = z.object({});
export const ShutdownResult = z.object({});
export const ExitParams = z.object({});
