import { ElexirionError } from '../errors.js';
import type { Logger } from 'pino';
import type { JsonRpcId } from './message.js';
import { idKey } from './message.js';

export interface PeerRequestOptions {
  /** Give up after this long (default: the peer's default, 60 s). Always bounded. */
  timeoutMs?: number;
  /** Aborting rejects the request at once and sends `$/cancelRequest` to the peer. */
  signal?: AbortSignal;
}

/** Requests and notifications from the sidecar to the other side (Elixir). */
export interface Peer {
  request<R>(method: string, params: unknown, opts?: PeerRequestOptions): Promise<R>;
  /** Fire-and-forget: never throws, never rejects. */
  notify(method: string, params: unknown): void;
}

/** The peer answered with a JSON-RPC error. */
export class PeerRequestError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(`${method}: ${message} (${code})`);
    this.name = 'PeerRequestError';
  }
}

/** No answer within the timeout; the peer was told to cancel. */
export class PeerTimeoutError extends ElexirionError {
  override readonly code: string = 'PEER_TIMEOUT_ERROR';
  constructor(
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`${method}: no reply within ${timeoutMs} ms`);
    this.name = 'PeerTimeoutError';
  }
}

/** Cancelled by the caller's AbortSignal; the peer was told to cancel. */
export class PeerCancelledError extends ElexirionError {
  override readonly code: string = 'PEER_CANCELLED_ERROR';
  constructor(
    readonly method: string,
    readonly reason?: unknown,
  ) {
    super(`${method}: cancelled`);
    this.name = 'AbortError';
  }
}

/** The connection closed (or the sidecar is shutting down) before a reply came. */
export class PeerClosedError extends ElexirionError {
  override readonly code: string = 'PEER_CLOSED_ERROR';
  constructor(readonly method: string) {
    super(`${method}: connection closed before a reply`);
    this.name = 'PeerClosedError';
  }
}

interface Pending {
  method: string;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
  cleanup(): void;
}

export const DEFAULT_PEER_TIMEOUT_MS = 60_000;
/** setTimeout's ceiling (~24.8 days): a longer delay would fire after 1 ms instead. */
export const MAX_PEER_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Outgoing side of the connection. Unlike vscode-jsonrpc's `sendRequest`, whose cancelled
 * promise stays pending until the peer answers, every request here settles on its own: by the
 * reply, by its timeout, by its signal, or when the connection closes.
 */
export class RpcPeer implements Peer {
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  constructor(
    private readonly send: (message: Record<string, unknown>) => void,
    private readonly options: {
      defaultTimeoutMs?: number;
      logger?: Logger;
      /** Warnings the peer can trigger at will (rate-limit them); default: logger.warn. */
      peerWarning?: (obj: Record<string, unknown>, message: string) => void;
    } = {},
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  request<R>(method: string, params: unknown, opts: PeerRequestOptions = {}): Promise<R> {
    // Clamped: Node fires an over-large delay after 1 ms, which would time out at once the
    // requests that asked for the longest wait (e.g. a huge executionTimeoutMs + 5 s).
    const timeoutMs = Math.min(opts.timeoutMs ?? this.options.defaultTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS, MAX_PEER_TIMEOUT_MS);
    const signal = opts.signal;
    if (this.closed) return Promise.reject(new PeerClosedError(method));
    if (signal?.aborted) return Promise.reject(new PeerCancelledError(method, signal.reason));
    const id = this.nextId++;
    const key = idKey(id);
    return new Promise<R>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.pending.has(key)) return;
        this.settle(key);
        this.cancelRemote(id);
        reject(new PeerCancelledError(method, signal?.reason));
      };
      const timer = setTimeout(() => {
        if (!this.pending.has(key)) return;
        this.settle(key);
        this.cancelRemote(id);
        reject(new PeerTimeoutError(method, timeoutMs));
      }, timeoutMs);
      timer.unref?.();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(key, {
        method,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      try {
        const msg: Record<string, unknown> = { jsonrpc: '2.0', id, method };
        if (params !== undefined) msg.params = params;
        this.send(msg);
      } catch (err) {
        this.settle(key);
        reject(err);
      }
    });
  }

  notify(method: string, params: unknown): void {
    if (this.closed) return;
    try {
      const msg: Record<string, unknown> = { jsonrpc: '2.0', method };
      if (params !== undefined) msg.params = params;
      this.send(msg);
    } catch (err) {
      this.options.logger?.warn({ method, err }, 'outgoing notification not sent');
    }
  }

  /** Routes an inbound response to its pending request; late or unknown ones are dropped. */
  handleResponse(id: JsonRpcId, result: unknown, error: unknown): void {
    const key = idKey(id);
    const p = this.pending.get(key);
    if (!p) {
      if (id === null) {
        if (this.options.peerWarning) this.options.peerWarning({ error }, 'peer reported an error with id null');
        else this.options.logger?.warn({ error }, 'peer reported an error with id null');
      }
      else this.options.logger?.debug({ id }, 'response to an unknown or settled request dropped');
      return;
    }
    this.settle(key);
    if (error !== undefined) {
      const e = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
      p.reject(
        new PeerRequestError(
          p.method,
          typeof e.code === 'number' ? e.code : -32603,
          typeof e.message === 'string' ? e.message : 'error',
          e.data,
        ),
      );
    } else p.resolve(result);
  }

  /** Rejects every pending request and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const [key, p] of [...this.pending]) {
      this.settle(key);
      p.reject(new PeerClosedError(p.method));
    }
  }

  private settle(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    p.cleanup();
  }

  private cancelRemote(id: number): void {
    this.notify('$/cancelRequest', { id });
  }
}
