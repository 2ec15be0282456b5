/**
 * The LM a request gets when it names none: `ELEXIRION_LM` when set; real Claude when an
 * Anthropic key is present (so the README's main job uses Claude just by exporting the key);
 * otherwise the deterministic offline LM, so nothing ever needs a network to run.
 */
export const DEFAULT_CLAUDE_SPEC = 'anthropic:claude-sonnet-4-6';

export function defaultLMSpec(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.ELEXIRION_LM?.trim();
  if (explicit) return explicit;
  if (env.ANTHROPIC_API_KEY?.trim()) return DEFAULT_CLAUDE_SPEC;
  return 'offline';
}
