/**
 * The LM response cache: an in-memory LRU in front of an optional on-disk store.
 *
 * Disk layout: `<dir>/<k[0..2]>/<k[2..4]>/<key>.json`, one file per key. A write is atomic
 * (src/util/atomic_file.ts: temp file, fsync, rename, directory fsync): a crash mid-write
 * leaves at worst a stray temp file, never a half-written entry. A corrupt or foreign entry is
 * logged and treated as a miss (the next result overwrites it).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import * as z from 'zod';
import { writeFileAtomic } from '../util/atomic_file.js';
import { lmLogger } from './log.js';

export const CachedResponseSchema = z.object({
  text: z.string(),
  usage: z.object({ inputTokens: z.number().nonnegative(), outputTokens: z.number().nonnegative() }),
  model: z.string(),
});
export type CachedResponse = z.infer<typeof CachedResponseSchema>;

const DiskEntrySchema = z.object({
  v: z.literal(1),
  key: z.string(),
  createdAt: z.string(),
  response: CachedResponseSchema,
});

export interface LMCache {
  get(key: string): Promise<CachedResponse | undefined>;
  set(key: string, value: CachedResponse): Promise<void>;
}

export class MemoryCache implements LMCache {
  private readonly map = new Map<string, CachedResponse>();
  constructor(readonly maxEntries = 10_000) {}

  async get(key: string): Promise<CachedResponse | undefined> {
    return this.getSync(key);
  }

  getSync(key: string): CachedResponse | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Re-insert: Map iteration order is insertion order, so the first key is the LRU one.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  async set(key: string, value: CachedResponse): Promise<void> {
    this.setSync(key, value);
  }

  setSync(key: string, value: CachedResponse): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  get size(): number {
    return this.map.size;
  }
}

const KEY_RE = /^[0-9a-f]{16,128}$/;

export class DiskCache implements LMCache {
  private readonly logger: Logger;
  constructor(
    readonly dir: string,
    opts: { logger?: Logger } = {},
  ) {
    this.logger = opts.logger ?? lmLogger();
  }

  pathFor(key: string): string {
    if (!KEY_RE.test(key)) throw new Error(`invalid cache key ${JSON.stringify(key)}`);
    return path.join(this.dir, key.slice(0, 2), key.slice(2, 4), `${key}.json`);
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    const file = this.pathFor(key);
    let raw: string;
    try {
      raw = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn({ file, err: String(e) }, 'lm cache: unreadable entry treated as a miss');
      }
      return undefined;
    }
    try {
      const entry = DiskEntrySchema.parse(JSON.parse(raw));
      if (entry.key !== key) throw new Error(`entry holds key ${entry.key}`);
      return entry.response;
    } catch (e) {
      this.logger.warn(
        { file, err: e instanceof Error ? e.message.slice(0, 300) : String(e) },
        'lm cache: corrupt entry treated as a miss',
      );
      return undefined;
    }
  }

  async set(key: string, value: CachedResponse): Promise<void> {
    const file = this.pathFor(key);
    const body = JSON.stringify({ v: 1, key, createdAt: new Date().toISOString(), response: value });
    await writeFileAtomic(file, body);
  }
}

/** Memory LRU in front of disk: a disk hit is promoted into memory. */
export class TieredCache implements LMCache {
  constructor(
    readonly memory: MemoryCache,
    readonly disk?: LMCache,
  ) {}

  async get(key: string): Promise<CachedResponse | undefined> {
    const m = this.memory.getSync(key);
    if (m !== undefined) return m;
    if (!this.disk) return undefined;
    const d = await this.disk.get(key);
    if (d !== undefined) this.memory.setSync(key, d);
    return d;
  }

  async set(key: string, value: CachedResponse): Promise<void> {
    this.memory.setSync(key, value);
    if (this.disk) await this.disk.set(key, value);
  }
}

export interface CacheOptions {
  /** Directory of the disk cache; memory only when absent. */
  dir?: string;
  maxMemoryEntries?: number;
  logger?: Logger;
}

export function createCache(opts: CacheOptions = {}): TieredCache {
  const disk = opts.dir ? new DiskCache(opts.dir, opts.logger ? { logger: opts.logger } : {}) : undefined;
  return new TieredCache(new MemoryCache(opts.maxMemoryEntries), disk);
}
