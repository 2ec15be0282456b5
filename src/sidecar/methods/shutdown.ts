import { ShutdownParams } from '../../protocol/lifecycle.js';
import { defineMethod } from '../registry.js';

/** Stops running work (each running request is answered -32800); `exit` should follow. */
export default defineMethod({
  method: 'shutdown',
  kind: 'request',
  params: ShutdownParams,
  handler(_params, ctx) {
    ctx.services.lifecycle.shutdown();
    return {};
  },
});
