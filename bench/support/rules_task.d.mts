import type { LM } from '../../src/lm/types.js';

export declare const RULE_PREFIX: string;
export declare function ruleText(c: number): string;
export declare function rightAnswer(c: number, n: number): string;
export declare function rulesData(count: number, opts?: { categories?: number; offset?: number }): Array<{ question: string; answer: string }>;
export declare function rulesTaskLM(opts?: { model?: string; onCall?: (kind: 'task') => void }): LM;
export declare function rulesPromptLM(opts?: { model?: string; onCall?: (kind: 'prompt') => void }): LM;
export declare function rulesMetric(
  example: { get(k: string): unknown },
  prediction: { get(k: string): unknown },
): { score: number; feedback: string };
