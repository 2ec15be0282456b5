/**
 * The response of an offline LM (the dummy, the pipeline demo LM): no cost, not cached, and a
 * usage estimate of one token per four characters, so budgets and usage reports behave offline
 * as they would online.
 */
import type { ChatMessage, LMResponse } from './types.js';

export function offlineResponse(model: string, messages: readonly ChatMessage[], text: string): LMResponse {
  let chars = 0;
  for (const m of messages) chars += m.content.length;
  return {
    text,
    usage: { inputTokens: Math.ceil(chars / 4), outputTokens: Math.ceil(text.length / 4) },
    model,
    cached: false,
    costUsd: 0,
  };
}
