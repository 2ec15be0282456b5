// Continuous learning: telemetry ingestion, usage export, production examples, the scheduler,
// the re-optimization policy, the promotion guard, the run ledger and the current-config
// registry. The execution store it writes to is src/store; generic helpers are in src/util.
export * from './continuous_learner.js';
export * from './telemetry_schemas.js';
export * from './telemetry_ingester.js';
export * from './quality_score.js';
export * from './usage_export.js';
export * from './production_examples.js';
export * from './scheduler.js';
export * from './pipeline_locks.js';
export * from './policy.js';
export * from './promotion_guard.js';
export * from './prompt_diff.js';
export * from './run_ledger.js';
export * from './config_registry.js';
