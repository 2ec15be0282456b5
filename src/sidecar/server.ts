import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { mapDomainError } from './error_map.js';
import { RpcEndpoint, type CallInfo, type HandlerEntry } from '../rpc/endpoint.js';
import type { Framing } from '../rpc/frame_decoder.js';
import { FramedMessageReader } from '../rpc/reader.js';
import { FramedMessageWriter } from '../rpc/writer.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type LogLevel } from './logger.js';
import { methods as defaultMethods } from './methods/index.js';
import { MethodRegistry, type AnyMethodDefinition, type MethodContext } from './registry.js';
import { createServices, type Services } from './services.js';
import { resolveDataDir } from './data_dir.js';
import { limits } from '../util/limits.js';

export interface SidecarOptions {
  framing?: Framing;
  maxFrameBytes?: number;
  logLevel?: LogLevel;
  logger?: Logger;
  input?: Readable;
  output?: Writable;
  methods?: readonly AnyMethodDefinition[];
  /** Default timeout of outgoing requests (ms). */
  peerTimeoutMs?: number;
  maxInFlightRequests?: number;
  maxQueuedNotifications?: number;
  /** Replies from the peer longer than this fail their request with -32012 (default: limits). */
  maxResultBytes?: number;
  /** Stop reading input while more than this many reply bytes wait for the peer (default: limits). */
  maxStdoutBufferBytes?: number;
  /** How long teardown may take before the process leaves anyway (ms). */
  exitDeadlineMs?: number;
  /** Called to leave the process; default `process.exit`. */
  exit?: (code: number) => void;
  /** Install process-level handlers (signals, unhandled rejections). Default true. */
  installProcessHandlers?: boolean;
  /** Data directory of the learner and friends; default `ELEXIRION_DATA_DIR`, else `<cwd>/.elexirion`. */
  dataDir?: string;
  /** Extra services setup (tests, embedding). */
  configureServices?: (services: Services) => void;
}

export interface Sidecar {
  endpoint: RpcEndpoint;
  lifecycle: Lifecycle;
  logger: Logger;
  /** Flushes and exits with `code` (idempotent). */
  terminate(code: number, reason: string): Promise<void>;
}

const DEFAULT_EXIT_DEADLINE_MS = 800;

/**
 * Wires stdin/stdout framing, the conformance endpoint, the method registry and the
 * lifecycle into a running sidecar.
 */
export function startSidecar(opts: SidecarOptions = {}): Sidecar {
  const logger = opts.logger ?? createLogger(opts.logLevel);
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stdout;
  const framing = opts.framing ?? 'packet4';
  const registry = new MethodRegistry(opts.methods ?? defaultMethods);
  const exitFn = opts.exit ?? ((code: number) => process.exit(code));
  const deadline = opts.exitDeadlineMs ?? DEFAULT_EXIT_DEADLINE_MS;

  const reader = new FramedMessageReader(input, { framing, maxFrameBytes: opts.maxFrameBytes ?? limits().maxFrameBytes });
  const writer = new FramedMessageWriter(output, framing);
  const maxStdoutBufferBytes = opts.maxStdoutBufferBytes ?? limits().maxStdoutBufferBytes;
  writer.watchBuffer(
    maxStdoutBufferBytes,
    () => {
      logger.debug({ bufferedBytes: writer.bufferedBytes, maxStdoutBufferBytes }, 'stdout is full: input paused until the peer reads');
      reader.pause();
    },
    () => reader.resume(),
  );

  let terminating: Promise<void> | undefined;
  const terminate = (code: number, reason: string): Promise<void> => {
    if (terminating) return terminating;
    terminating = (async () => {
      endpoint.peerWarnings.flush();
      logger.info({ code, reason }, 'sidecar exiting');
      endpoint.cancelAll();
      endpoint.peer.close();
      const flush = (async () => {
        await endpoint.notifications.idle();
        if (servicesBuilt) await services().dispose();
        await writer.flush();
      })();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        flush.catch((err: unknown) => logger.error({ err }, 'flush at exit failed')),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            logger.warn({ deadlineMs: deadline }, 'exit deadline reached before flush completed');
            resolve();
          }, deadline);
        }),
      ]);
      if (timer) clearTimeout(timer);
      exitFn(code);
    })();
    return terminating;
  };

  const lifecycle = new Lifecycle({
    methodNames: () => registry.names(),
    onShutdown: () => endpoint.cancelAll('Request cancelled: server shutting down'),
    onExit: (code, reason) => void terminate(code, reason),
  });

  let servicesBuilt = false;
  let servicesValue: Services | undefined;
  const services = (): Services => {
    if (!servicesValue) {
      servicesValue = createServices({
        logger,
        lifecycle,
        peer: endpoint.peer,
        dataDir: resolveDataDir(opts.dataDir),
        notificationBarrier,
      });
      servicesBuilt = true;
      opts.configureServices?.(servicesValue);
    }
    return servicesValue;
  };

  // A marker job in the notification queue: it runs after every notification queued before it.
  // When the queue is full the marker cannot be queued; waiting for the queue to drain covers
  // the same notifications (and possibly later ones).
  const notificationBarrier = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (!endpoint.notifications.push('$/barrier', resolve)) void endpoint.notifications.idle().then(resolve);
    });

  const entries = new Map<string, HandlerEntry>();
  const lookup = (method: string): HandlerEntry | undefined => {
    let entry = entries.get(method);
    if (entry) return entry;
    const def = registry.get(method);
    if (!def) return undefined;
    entry = {
      kind: def.kind,
      params: def.params,
      immediate: def.method === 'exit',
      handle: (params, call) => def.handler(params, makeContext(call)),
    };
    entries.set(method, entry);
    return entry;
  };

  const makeContext = (call: CallInfo): MethodContext => {
    let childLogger: Logger | undefined;
    const { progressToken } = call;
    return {
      get signal() {
        return call.signal;
      },
      get logger() {
        // String(id) for an id kept as written (above 2^53): logs show its digits.
        const id = typeof call.id === 'object' && call.id !== null ? String(call.id) : call.id;
        return (childLogger ??= logger.child(id === undefined ? { method: call.method } : { method: call.method, id }));
      },
      progress: (value: unknown) => {
        // Progress comes before the reply: once the request was cancelled (answered -32800),
        // a handler still winding down must not send more for a token the client has retired.
        if (progressToken !== undefined && !call.signal.aborted) endpoint.peer.notify('$/progress', { token: progressToken, value });
      },
      peer: endpoint.peer,
      get services() {
        return services();
      },
    };
  };

  const endpoint: RpcEndpoint = new RpcEndpoint({
    reader,
    writer,
    logger,
    lookup,
    gate: (method, kind) => lifecycle.gate(method, kind, registry.get(method)?.requiresInitialize ?? true),
    exposeStacks: () => logger.isLevelEnabled('debug'),
    mapError: mapDomainError,
    onClose: () => {
      if (reader.truncated) logger.warn('input ended inside a frame (truncated frame discarded)');
      void terminate(0, 'stdin closed');
    },
    maxInFlightRequests: opts.maxInFlightRequests,
    maxQueuedNotifications: opts.maxQueuedNotifications,
    peerTimeoutMs: opts.peerTimeoutMs,
    maxResultBytes: opts.maxResultBytes ?? limits().maxResultBytes,
    inboundFrameBytes: () => reader.lastFrameBytes,
  });

  writer.onError(([err]) => {
    logger.warn({ err }, 'output stream failed: nobody can read replies any more');
    void terminate(0, 'stdout closed');
  });

  if (opts.installProcessHandlers ?? true) {
    process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection (ignored)'));
    process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception (ignored)'));
    process.on('SIGTERM', () => void terminate(0, 'SIGTERM'));
    process.on('SIGINT', () => void terminate(0, 'SIGINT'));
  }

  endpoint.listen();
  logger.debug({ framing }, 'sidecar listening');
  return { endpoint, lifecycle, logger, terminate };
}
