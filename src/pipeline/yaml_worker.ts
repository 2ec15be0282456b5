/**
 * Worker thread body for `loadYamlOffThread` (yaml.ts): loads one YAML text with every limit
 * of `loadYaml` and posts back the value, or the error's name, message and data.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadYaml } from './yaml.js';

const { text, source } = workerData as { text: string; source?: string };
try {
  parentPort!.postMessage({ ok: true, value: loadYaml(text, source) });
} catch (err) {
  const e = err as Error & { data?: unknown };
  parentPort!.postMessage({ ok: false, name: e.name, message: e.message, data: e.data });
}
