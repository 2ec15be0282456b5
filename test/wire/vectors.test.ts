import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/build.js';
import type { Framing } from '../support/frames.js';
import { SidecarProcess } from '../support/sidecar_process.js';
import { loadVectors, replay } from './support/vectors.js';

const vectors = loadVectors();
let running: SidecarProcess | undefined;

beforeAll(() => ensureBuilt());
afterEach(async () => {
  await running?.close();
  running = undefined;
});

// Every vector over the default framing; a sample over content-length (the framing is
// independent of the JSON-RPC layer, and each replay costs a process start).
const CONTENT_LENGTH_SAMPLE = ['spec-batch-mixed', 'spec-invalid-json', 'invalid-utf8', 'invalid-params', 'id-types', 'initialize-handshake'];
const byFraming: Record<Framing, typeof vectors> = {
  packet4: vectors,
  'content-length': vectors.filter((v) => CONTENT_LENGTH_SAMPLE.includes(v.name)),
};

describe.each<Framing>(['packet4', 'content-length'])('golden vectors over %s framing', (framing) => {
  it('has vectors to replay', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(20);
    expect(byFraming['content-length']).toHaveLength(CONTENT_LENGTH_SAMPLE.length);
  });

  it.each(byFraming[framing].map((v) => [v.name, v] as const))('%s', async (_name, vector) => {
    running = new SidecarProcess(framing);
    await replay(vector, running);
    const exit = await running.close();
    expect(exit.code).toBe(0);
    expect(running.stdoutProblems()).toEqual([]);
    expect(running.pendingFrames).toBe(0);
  });
});
