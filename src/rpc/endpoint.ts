import type { Logger } from 'pino';
import type { MessageReader } from 'vscode-jsonrpc';
import type { ZodType } from 'zod';
import { ErrorCode, invalidParams, RpcError, type ErrorObject } from './errors.js';
import { classify, idKey, type JsonRpcId, type ResponseMessage } from './message.js';
import { NotificationQueue } from './notification_queue.js';
import { RpcPeer } from './peer.js';
import { FrameError } from './reader.js';
import { WarningLimiter } from './warning_limiter.js';

/** What the endpoint needs to know about one method. */
export interface HandlerEntry {
  kind: 'request' | 'notification';
  params: ZodType;
  /** Notifications only: run at once instead of through the bounded queue (e.g. `exit`). */
  immediate?: boolean;
  handle(params: unknown, call: CallInfo): unknown;
}

export interface CallInfo {
  method: string;
  /** Absent for notifications. */
  id?: JsonRpcId;
  signal: AbortSignal;
  /** `params.progressToken` of the request, when it carried one. */
  progressToken?: string | number;
}

export interface ValueWriter {
  writeValue(value: unknown): void;
}

export interface EndpointOptions {
  reader: MessageReader;
  writer: ValueWriter;
  logger: Logger;
  lookup(method: string): HandlerEntry | undefined;
  /**
   * Lifecycle gate, asked before a method runs. An RpcError answers a request with it (a
   * notification is dropped instead); undefined lets the call through.
   */
  gate?(method: string, kind: 'request' | 'notification'): RpcError | undefined;
  /** Include stack traces in -32603 `error.data` (debug logging only). */
  exposeStacks?: () => boolean;
  /** Maps a domain error (budget, LM, bad input) to its JSON-RPC error; undefined: internal error. */
  mapError?: (err: unknown) => RpcError | undefined;
  onClose?(): void;
  maxInFlightRequests?: number;
  maxQueuedNotifications?: number;
  peerTimeoutMs?: number;
  /**
   * Replies from the peer (e.g. `pipeline/execute` results) longer than this are not handed
   * to the caller: the request fails with -32012 naming the limit. Needs `inboundFrameBytes`.
   */
  maxResultBytes?: number;
  /** Size in bytes of the frame being handled. */
  inboundFrameBytes?: () => number;
}

type Sink = (response: ResponseMessage) => void;

interface InFlight {
  /** Created on first use: most requests (ping) never look at their signal. */
  controller?: AbortController;
  replied: boolean;
  reply: Sink;
  id: JsonRpcId;
}

export const CANCEL_METHOD = '$/cancelRequest';
export const DEFAULT_MAX_IN_FLIGHT = 1024;
export const DEFAULT_MAX_QUEUED_NOTIFICATIONS = 10_000;

/**
 * The JSON-RPC 2.0 conformance layer and dispatcher. It reads values from a framed
 * vscode-jsonrpc `MessageReader` and answers exactly as the spec requires: -32700 for frames
 * that are not JSON, -32600 for values that are not requests, batches (array in, array out,
 * nothing for notifications), -32601, -32602 naming each failing field, -32603 for handler
 * failures and -32800 for cancelled requests. No inbound value can throw out of it.
 */
export class RpcEndpoint {
  readonly peer: RpcPeer;
  readonly notifications: NotificationQueue;
  private readonly inFlight = new Map<string, Set<InFlight>>();
  private inFlightCount = 0;
  private readonly maxInFlight: number;
  private disposed = false;
  /** Warnings about what the peer sent: rate-limited, the peer decides how many there are. */
  readonly peerWarnings: WarningLimiter;

  constructor(private readonly opts: EndpointOptions) {
    this.peerWarnings = new WarningLimiter(opts.logger);
    this.maxInFlight = opts.maxInFlightRequests ?? DEFAULT_MAX_IN_FLIGHT;
    this.notifications = new NotificationQueue(
      opts.maxQueuedNotifications ?? DEFAULT_MAX_QUEUED_NOTIFICATIONS,
      opts.logger,
    );
    this.peer = new RpcPeer((m) => this.opts.writer.writeValue(m), {
      defaultTimeoutMs: opts.peerTimeoutMs,
      logger: opts.logger,
      peerWarning: (obj, message) => this.peerWarnings.warn(obj, message),
    });
  }

  get inFlightRequests(): number {
    return this.inFlightCount;
  }

  /** Starts reading. */
  listen(): void {
    const { reader } = this.opts;
    reader.onError((err) => this.onReadError(err));
    reader.onClose(() => {
      this.peer.close();
      this.opts.onClose?.();
    });
    reader.listen((value) => this.receive(value));
  }

  /** Handles one decoded JSON value (a message or a batch). Never throws. */
  receive(value: unknown): void {
    try {
      if (Array.isArray(value)) this.receiveBatch(value);
      else this.receiveOne(value, (r) => this.write(r));
    } catch (err) {
      this.opts.logger.error({ err }, 'unexpected failure while handling an inbound message');
    }
  }

  /** Aborts every running request, answering each with -32800. */
  cancelAll(message = 'Request cancelled: server shutting down'): void {
    for (const set of [...this.inFlight.values()]) {
      for (const call of [...set]) this.cancelCall(call, message);
    }
  }

  dispose(): void {
    this.disposed = true;
    this.peerWarnings.flush();
    this.cancelAll();
    this.peer.close();
  }

  private onReadError(err: Error): void {
    if (err instanceof FrameError) {
      const code = err.kind === 'too-large' ? ErrorCode.InvalidRequest : ErrorCode.ParseError;
      this.peerWarnings.warn({ kind: err.kind, ...err.data }, err.message);
      this.write(errorResponse(null, { code, message: err.message, ...(err.data ? { data: err.data } : {}) }));
      return;
    }
    this.opts.logger.error({ err }, 'transport read error');
  }

  private write(response: ResponseMessage | ResponseMessage[]): void {
    if (this.disposed) return;
    try {
      this.opts.writer.writeValue(response);
    } catch (err) {
      // Only a result that cannot be serialized gets here; answer that instead. In a batch,
      // only the entries that cannot be serialized: their siblings keep their own results.
      this.opts.logger.error({ err }, 'could not serialize a response');
      const fallback = (r: ResponseMessage): ResponseMessage => {
        if (Array.isArray(response) && serializable(r)) return r;
        return r.error ? r : errorResponse(r.id, { code: ErrorCode.InternalError, message: 'Internal error: result is not serializable' });
      };
      try {
        this.opts.writer.writeValue(Array.isArray(response) ? response.map(fallback) : fallback(response));
      } catch (err2) {
        this.opts.logger.error({ err: err2 }, 'could not write a response');
      }
    }
  }

  private receiveBatch(values: unknown[]): void {
    if (values.length === 0) {
      this.write(errorResponse(null, { code: ErrorCode.InvalidRequest, message: 'Invalid Request: empty batch' }));
      return;
    }
    const replies: ResponseMessage[] = [];
    let expected = 0;
    let done = false;
    const flush = (): void => {
      if (!done && replies.length === expected) {
        done = true;
        if (expected > 0) this.write(replies);
      }
    };
    const sink: Sink = (r) => {
      replies.push(r);
      if (started) flush();
    };
    let started = false;
    for (const v of values) {
      if (this.receiveOne(v, sink)) expected += 1;
    }
    started = true;
    flush();
  }

  /** Handles one message; returns true when it will produce exactly one reply into `sink`. */
  private receiveOne(value: unknown, sink: Sink): boolean {
    const msg = classify(value);
    switch (msg.type) {
      case 'invalid':
        this.opts.logger.debug({ reason: msg.reason }, 'invalid request');
        sink(errorResponse(msg.id, { code: ErrorCode.InvalidRequest, message: `Invalid Request: ${msg.reason}` }));
        return true;
      case 'response': {
        const bytes = this.opts.inboundFrameBytes?.() ?? 0;
        const max = this.opts.maxResultBytes;
        if (max !== undefined && bytes > max && msg.error === undefined) {
          // Scoring or storing a reply this large is the sidecar's memory at the peer's
          // mercy: the request fails instead, saying which limit to raise.
          this.peer.handleResponse(msg.id, undefined, {
            code: ErrorCode.InvalidInput,
            message: `reply of ${bytes} bytes is over the limit of ${max} bytes (raise ELEXIRION_MAX_RESULT_BYTES to allow it)`,
            data: { limit: 'ELEXIRION_MAX_RESULT_BYTES', max, actual: bytes },
          });
          return false;
        }
        this.peer.handleResponse(msg.id, msg.result, msg.error);
        return false;
      }
      case 'notification':
        this.handleNotification(msg.method, msg.params);
        return false;
      case 'request':
        this.handleRequest(msg.id, msg.method, msg.params, sink);
        return true;
    }
  }

  private handleNotification(method: string, params: unknown): void {
    if (method === CANCEL_METHOD) {
      const id = (params as { id?: unknown } | undefined)?.id;
      if (typeof id === 'string' || typeof id === 'number') this.cancelId(id);
      else this.opts.logger.debug({ params }, '$/cancelRequest without a usable id ignored');
      return;
    }
    const entry = this.opts.lookup(method);
    if (!entry || entry.kind !== 'notification') {
      this.opts.logger.debug({ method }, 'unknown notification ignored');
      return;
    }
    const refusal = this.opts.gate?.(method, 'notification');
    if (refusal) {
      this.opts.logger.debug({ method, reason: refusal.message }, 'notification dropped');
      return;
    }
    const parsed = entry.params.safeParse(params ?? {});
    if (!parsed.success) {
      this.peerWarnings.warn({ method, issues: invalidParams(parsed.error.issues).data }, 'notification with invalid params dropped');
      return;
    }
    const run = (): unknown =>
      entry.handle(parsed.data, { method, signal: new AbortController().signal });
    if (entry.immediate) {
      try {
        const out = run();
        if (out && typeof (out as Promise<unknown>).then === 'function') {
          (out as Promise<unknown>).catch((err: unknown) =>
            this.opts.logger.error({ method, err }, 'notification handler failed'),
          );
        }
      } catch (err) {
        this.opts.logger.error({ method, err }, 'notification handler failed');
      }
      return;
    }
    this.notifications.push(method, run);
  }

  private handleRequest(id: JsonRpcId, method: string, params: unknown, sink: Sink): void {
    const refusal = this.opts.gate?.(method, 'request');
    if (refusal) {
      sink(errorResponse(id, refusal.toErrorObject()));
      return;
    }
    const entry = this.opts.lookup(method);
    if (!entry || entry.kind !== 'request') {
      sink(errorResponse(id, { code: ErrorCode.MethodNotFound, message: `Method not found: ${method}` }));
      return;
    }
    if (this.inFlightCount >= this.maxInFlight) {
      sink(
        errorResponse(id, {
          code: ErrorCode.ServerOverloaded,
          message: `Server overloaded: ${this.maxInFlight} requests already in flight`,
        }),
      );
      return;
    }
    const parsed = entry.params.safeParse(params ?? {});
    if (!parsed.success) {
      sink(errorResponse(id, invalidParams(parsed.error.issues).toErrorObject()));
      return;
    }
    const call: InFlight = { replied: false, reply: sink, id };
    const progressToken = readProgressToken(params);
    const info: CallInfo = {
      method,
      id,
      get signal() {
        return (call.controller ??= new AbortController()).signal;
      },
    };
    if (progressToken !== undefined) info.progressToken = progressToken;

    let out: unknown;
    try {
      out = entry.handle(parsed.data, info);
    } catch (err) {
      sink(errorResponse(id, this.toErrorObject(err, call, method)));
      return;
    }
    if (!out || typeof (out as PromiseLike<unknown>).then !== 'function') {
      // Synchronous fast path (ping): no bookkeeping, no microtask.
      sink(resultResponse(id, out));
      return;
    }
    this.track(call);
    (out as Promise<unknown>).then(
      (result) => this.finish(call, resultResponse(id, result)),
      (err: unknown) => this.finish(call, errorResponse(id, this.toErrorObject(err, call, method))),
    );
  }

  private track(call: InFlight): void {
    const key = idKey(call.id);
    let set = this.inFlight.get(key);
    if (!set) this.inFlight.set(key, (set = new Set()));
    set.add(call);
    this.inFlightCount += 1;
  }

  private untrack(call: InFlight): void {
    const key = idKey(call.id);
    const set = this.inFlight.get(key);
    if (set?.delete(call)) {
      this.inFlightCount -= 1;
      if (set.size === 0) this.inFlight.delete(key);
    }
  }

  private finish(call: InFlight, response: ResponseMessage): void {
    this.untrack(call);
    if (call.replied) return;
    call.replied = true;
    call.reply(response);
  }

  private cancelId(id: string | number): void {
    const set = this.inFlight.get(idKey(id));
    if (!set) return; // already answered: nothing to do (spec: cancellation is best effort)
    for (const call of [...set]) this.cancelCall(call, 'Request cancelled');
  }

  private cancelCall(call: InFlight, message: string): void {
    if (call.replied) return;
    call.replied = true;
    this.untrack(call);
    (call.controller ??= new AbortController()).abort(new RpcError(ErrorCode.RequestCancelled, message));
    call.reply(errorResponse(call.id, { code: ErrorCode.RequestCancelled, message }));
  }

  private toErrorObject(err: unknown, call: InFlight, method: string): ErrorObject {
    if (err instanceof RpcError) return err.toErrorObject();
    if (call.controller?.signal.aborted) return { code: ErrorCode.RequestCancelled, message: 'Request cancelled' };
    const mapped = this.opts.mapError?.(err);
    if (mapped) return mapped.toErrorObject();
    this.opts.logger.error({ method, err }, 'request handler failed');
    const message = `Internal error: ${err instanceof Error ? err.message : String(err)}`;
    if (this.opts.exposeStacks?.() && err instanceof Error && err.stack) {
      return { code: ErrorCode.InternalError, message, data: { stack: err.stack } };
    }
    return { code: ErrorCode.InternalError, message };
  }
}

function readProgressToken(params: unknown): string | number | undefined {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  const t = (params as { progressToken?: unknown }).progressToken;
  return typeof t === 'string' || typeof t === 'number' ? t : undefined;
}

function serializable(value: unknown): boolean {
  try {
    return JSON.stringify(value) !== undefined;
  } catch {
    return false;
  }
}

function resultResponse(id: JsonRpcId, result: unknown): ResponseMessage {
  return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
}

function errorResponse(id: JsonRpcId, error: ErrorObject): ResponseMessage {
  return { jsonrpc: '2.0', id, error };
}
