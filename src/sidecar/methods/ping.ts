import { PingParams } from '../../protocol/lifecycle.js';
import { defineMethod } from '../registry.js';

/** Liveness check, allowed before initialize. Synchronous: the fast path of the endpoint. */
export default defineMethod({
  method: 'ping',
  kind: 'request',
  params: PingParams,
  requiresInitialize: false,
  handler: () => ({}),
});
