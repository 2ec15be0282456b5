// Package export barrel. Each part adds its own section.

// --- wire: transport, conformance layer, peer (#2)
export { ErrorCode, RpcError, invalidParams, type ErrorObject, type ParamIssue } from './rpc/errors.js';
export {
  createFrameDecoder,
  encodeFrame,
  DEFAULT_MAX_FRAME_BYTES,
  FRAMINGS,
  type Framing,
  type FrameDecoder,
  type FrameEvents,
} from './rpc/frame_decoder.js';
export { FramedMessageReader, FrameError, type FramedReaderOptions } from './rpc/reader.js';
export { FramedMessageWriter } from './rpc/writer.js';
export { RpcEndpoint, type EndpointOptions, type HandlerEntry, type CallInfo } from './rpc/endpoint.js';
export {
  RpcPeer,
  PeerRequestError,
  PeerTimeoutError,
  PeerCancelledError,
  PeerClosedError,
  DEFAULT_PEER_TIMEOUT_MS,
  type Peer,
  type PeerRequestOptions,
} from './rpc/peer.js';
export { classify, type JsonRpcId, type Inbound, type ResponseMessage } from './rpc/message.js';
export { NotificationQueue } from './rpc/notification_queue.js';

// --- protocol: zod schemas of every wire method (#2)
export * as protocol from './protocol/index.js';
export { PROTOCOL_VERSION } from './protocol/version.js';

// --- sidecar: registry, services, lifecycle, server (#2)
export {
  defineMethod,
  MethodRegistry,
  type MethodDefinition,
  type AnyMethodDefinition,
  type MethodContext,
} from './sidecar/registry.js';
export { createServices, lazy, NameRegistry, type Services, type ServicesOptions } from './sidecar/services.js';
export { Lifecycle, type LifecycleState } from './sidecar/lifecycle.js';
export { startSidecar, type Sidecar, type SidecarOptions } from './sidecar/server.js';
export { createLogger, redactSecrets, resolveLogLevel, type LogLevel } from './sidecar/logger.js';
export { methods } from './sidecar/methods/index.js';

// --- run: one home for an optimization run, usable without the sidecar (#11)
export * as run from './run/index.js';
export { optimizeRun, evaluateRun, type RunHost } from './run/index.js';
