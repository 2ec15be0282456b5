// The current optimized config of each pipeline, one file per pipeline under DIR/current/,
// replaced atomically on promotion (readers see the old or the new config, never a mix).
// Rejected candidates are kept under DIR/rejected/<pipeline>/<time>.json with their reason.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic_file.js';

export const CurrentConfigSchema = z.object({
  pipeline: z.string(),
  version: z.number().int().positive(),
  promotedAt: z.string(),
  ledgerId: z.string().nullable(),
  config: z.unknown(),
});
export type CurrentConfig = z.infer<typeof CurrentConfigSchema>;

/** A file name for any pipeline name (no path separators, no dot files). */
export function pipelineFileName(name: string): string {
  return 'p-' + encodeURIComponent(name).replace(/\./g, '%2E').replace(/\*/g, '%2A');
}

export class ConfigRegistry {
  private cache = new Map<string, CurrentConfig | null>();
  constructor(readonly dir: string) {}

  private currentPath(name: string): string {
    return join(this.dir, 'current', pipelineFileName(name) + '.json');
  }

  async getCurrentConfig(name: string): Promise<CurrentConfig | null> {
    if (this.cache.has(name)) return this.cache.get(name)!;
    const raw = await readJsonIfExists(this.currentPath(name));
    let v: CurrentConfig | null = null;
    if (raw !== undefined) {
      const p = CurrentConfigSchema.safeParse(raw);
      if (!p.success) throw new Error(`${this.currentPath(name)}: invalid current config: ${p.error.issues[0]?.message}`);
      v = p.data;
    }
    this.cache.set(name, v);
    return v;
  }

  /** Installs `config` as the pipeline's current config (version + 1). */
  async promote(name: string, config: unknown, ledgerId: string | null, now = new Date()): Promise<CurrentConfig> {
    const prev = await this.getCurrentConfig(name);
    const next: CurrentConfig = { pipeline: name, version: (prev?.version ?? 0) + 1, promotedAt: now.toISOString(), ledgerId, config };
    await writeJsonAtomic(this.currentPath(name), next);
    this.cache.set(name, next);
    return next;
  }

  async keepRejected(name: string, candidate: unknown, reason: string, ledgerId: string, now = new Date()): Promise<string> {
    const path = join(this.dir, 'rejected', pipelineFileName(name), `${now.toISOString().replace(/[:.]/g, '-')}-${ledgerId}.json`);
    await writeJsonAtomic(path, { pipeline: name, rejectedAt: now.toISOString(), reason, ledgerId, config: candidate });
    return path;
  }

  /** Names of pipelines that have a current config. */
  async pipelines(): Promise<string[]> {
    let names: string[];
    try {
      names = await fsp.readdir(join(this.dir, 'current'));
    } catch {
      return [];
    }
    return names.filter((n) => n.startsWith('p-') && n.endsWith('.json')).map((n) => decodeURIComponent(n.slice(2, -5)));
  }
}
