// The sidecar's error map matches run errors by name (src/sidecar/error_map.ts): what a client
// sees is the JSON-RPC code and `data` each run error becomes. The codes and data are the
// contract; the message wording is for people (only RunParamsError's field names are pinned).
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/rpc/errors.js';
import { mapDomainError } from '../../src/sidecar/error_map.js';
import { RunFailedError, RunInputError, RunInterruptedError, RunParamsError } from '../../src/run/index.js';

const wire = (err: Error) => mapDomainError(err)?.toErrorObject();

describe('run errors as a client sees them', () => {
  it('a run with nothing to conclude is -32014 with the reason and the phase', () => {
    const e = new RunFailedError('metric_cannot_score', 'baseline', 'the judge could not score');
    expect(e).toBeInstanceOf(Error);
    expect(wire(e)).toMatchObject({ code: ErrorCode.RunFailed, data: { reason: 'metric_cannot_score', phase: 'baseline' } });
    expect(wire(new RunFailedError('executions_failed', 'final', 'x'))).toMatchObject({
      code: -32014,
      data: { reason: 'executions_failed', phase: 'final' },
    });
  });

  it('a run interrupted before its baseline was scored is -32011, resumable under its run id, with the fault as cause', () => {
    const cause = new Error('HTTP 429');
    const e = new RunInterruptedError('run-1', 'baseline', 'provider', 'the provider failed', { cause });
    expect(e.cause).toBe(cause);
    expect(wire(e)).toMatchObject({
      code: ErrorCode.LMFailed,
      data: { runId: 'run-1', phase: 'baseline', kind: 'provider', resumable: true },
    });
  });

  it('params that cannot make a run are -32602 with every issue under the field as written', () => {
    const e = new RunParamsError([
      { path: ['optimizer', 'options', 'k'], message: 'must be a number' },
      { path: [], message: 'bad params' },
    ]);
    expect(e.message).toBe('optimizer.options.k: must be a number; (params): bad params');
    expect(wire(e)).toMatchObject({
      code: ErrorCode.InvalidParams,
      data: { issues: [{ path: ['optimizer', 'options', 'k'], message: 'must be a number' }, { path: [], message: 'bad params' }] },
    });
  });

  it('unusable input is -32012 naming the param', () => {
    const e = new RunInputError('trainingData', 'the training data holds no examples');
    expect(wire(e)).toMatchObject({ code: ErrorCode.InvalidInput, data: { field: 'trainingData' } });
  });
});
