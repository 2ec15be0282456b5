import type { AnyMethodDefinition } from '../registry.js';
import exit from './exit.js';
import initialize from './initialize.js';
import evaluate from './evaluate.js';
import lmGenerate from './lm_generate.js';
import optimize from './optimize.js';
import ping from './ping.js';
import shutdown from './shutdown.js';

/**
 * Every method the sidecar serves. Append yours (one file per method in this directory);
 * register a method only once it really works — `initialize` advertises this list.
 *
 * Cold start (spawn -> initialize reply) must stay under 250 ms, and every file here is loaded
 * at startup: keep method files light (schema + handler) and import heavy modules (LM
 * providers, optimizers, stores) inside the handler with `await import(...)`, or build them
 * lazily in `services`.
 */
export const methods: AnyMethodDefinition[] = [initialize, ping, shutdown, exit, lmGenerate, optimize, evaluate];
