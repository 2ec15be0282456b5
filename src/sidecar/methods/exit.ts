import { ExitParams } from '../../protocol/lifecycle.js';
import { defineMethod } from '../registry.js';

/** Flush and leave: code 0 after `shutdown`, 1 without it. Accepted in any state. */
export default defineMethod({
  method: 'exit',
  kind: 'notification',
  params: ExitParams,
  requiresInitialize: false,
  handler(_params, ctx) {
    ctx.services.lifecycle.exit();
  },
});
