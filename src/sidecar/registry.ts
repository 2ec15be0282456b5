import type { Logger } from 'pino';
import type * as z from 'zod';
import type { Peer } from '../rpc/peer.js';
import type { Services } from './services.js';

export type { Peer, PeerRequestOptions } from '../rpc/peer.js';

/** What a handler gets besides its params. */
export interface MethodContext {
  /** Aborted by `$/cancelRequest` (the reply is then -32800 whatever the handler does) or shutdown. */
  signal: AbortSignal;
  logger: Logger;
  /** Sends `$/progress {token, value}` when the request carried `progressToken`; else a no-op. */
  progress(value: unknown): void;
  /** Requests (always with a timeout) and notifications to Elixir. */
  peer: Peer;
  /** Shared, lazily built services. */
  services: Services;
}

/** One wire method. A file in `src/sidecar/methods/` exports one; `methods/index.ts` lists them. */
export interface MethodDefinition<P = unknown, R = unknown> {
  method: string;
  kind: 'request' | 'notification';
  /** From `src/protocol/`. Invalid params are answered -32602 before the handler runs. */
  params: z.ZodType<P>;
  /** Default true: refused with -32002 (or dropped, for a notification) before `initialize`. */
  requiresInitialize?: boolean;
  handler(params: P, ctx: MethodContext): Promise<R> | R;
}

/** Typed helper: `export default defineMethod({...})` infers P from the schema. */
export function defineMethod<P, R>(def: MethodDefinition<P, R>): MethodDefinition<P, R> {
  return def;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyMethodDefinition = MethodDefinition<any, any>;

export class MethodRegistry {
  private readonly byName = new Map<string, AnyMethodDefinition>();

  constructor(defs: readonly AnyMethodDefinition[] = []) {
    for (const d of defs) this.add(d);
  }

  add(def: AnyMethodDefinition): void {
    if (this.byName.has(def.method)) throw new Error(`method registered twice: ${def.method}`);
    this.byName.set(def.method, def);
  }

  get(method: string): AnyMethodDefinition | undefined {
    return this.byName.get(method);
  }

  /** Registered method names, sorted (what `initialize` reports). */
  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}
