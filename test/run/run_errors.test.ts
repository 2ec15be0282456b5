// The sidecar's error map matches run errors by name (src/sidecar/error_map.ts): the names are
// part of the contract, and RunParamsError's message names each field as written on the wire.
import { describe, expect, it } from 'vitest';
import { RunFailedError, RunInputError, RunInterruptedError, RunParamsError } from '../../src/run/index.js';

describe('run errors', () => {
  it('carry the names the error map matches', () => {
    expect(new RunFailedError('executions_failed', 'baseline', 'x').name).toBe('RunFailedError');
    expect(new RunInterruptedError('r', 'baseline', 'provider', 'x').name).toBe('RunInterruptedError');
    expect(new RunParamsError([]).name).toBe('RunParamsError');
    expect(new RunInputError('trainingData', 'x').name).toBe('RunInputError');
  });

  it('RunParamsError lists every issue under its path', () => {
    const e = new RunParamsError([
      { path: ['optimizer', 'options', 'k'], message: 'must be a number' },
      { path: [], message: 'bad params' },
    ]);
    expect(e.message).toBe('optimizer.options.k: must be a number; (params): bad params');
  });
});
