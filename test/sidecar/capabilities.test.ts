import { describe, expect, it } from 'vitest';
import { OPTIMIZER_NAMES } from '../../src/optimizers/index.js';
import { METRIC_NAMES } from '../../src/pipeline/index.js';
import { METRIC_NAMES as ADVERTISED_METRICS, OPTIMIZER_NAMES as ADVERTISED_OPTIMIZERS } from '../../src/sidecar/services.js';

// `initialize` advertises these without loading the modules; they must say what is really there.
describe('advertised capabilities', () => {
  it('lists exactly the optimizers the factory builds', () => {
    expect([...ADVERTISED_OPTIMIZERS].sort()).toEqual([...OPTIMIZER_NAMES].sort());
  });
  it('lists exactly the metrics the registry builds', () => {
    expect([...ADVERTISED_METRICS].sort()).toEqual([...METRIC_NAMES].sort());
  });
});
