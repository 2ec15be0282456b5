import { ErrorCode, RpcError } from '../../rpc/errors.js';
import { InitializeParams, type InitializeResult } from '../../protocol/lifecycle.js';
import { isCompatibleProtocolVersion, PROTOCOL_VERSION } from '../../protocol/version.js';
import { defineMethod } from '../registry.js';
import { SERVER_NAME, serverVersion } from '../server_info.js';

export default defineMethod({
  method: 'initialize',
  kind: 'request',
  params: InitializeParams,
  requiresInitialize: false,
  handler(params, ctx): InitializeResult {
    if (!isCompatibleProtocolVersion(params.protocolVersion)) {
      const message = `unsupported protocol version ${params.protocolVersion}: this sidecar speaks ${PROTOCOL_VERSION} (same major version required)`;
      throw new RpcError(ErrorCode.InvalidParams, `Invalid params: ${message}`, {
        issues: [{ path: ['protocolVersion'], message }],
        supportedVersion: PROTOCOL_VERSION,
      });
    }
    const { lifecycle, registries } = ctx.services;
    lifecycle.markInitialized();
    ctx.logger.info({ client: params.clientInfo, protocolVersion: params.protocolVersion }, 'initialized');
    return {
      protocolVersion: PROTOCOL_VERSION,
      serverInfo: { name: SERVER_NAME, version: serverVersion() },
      capabilities: {
        methods: lifecycle.methodNames(),
        optimizers: registries.optimizers.list(),
        lmProviders: registries.lmProviders.list(),
        metrics: registries.metrics.list(),
      },
    };
  },
});
