// Continuous learning: execution store, telemetry ingestion, usage export, production examples,
// cron scheduler, re-optimization policy, promotion guard, run ledger, current-config registry.
export * from './continuous_learner.js';
export * from './execution_record.js';
export * from './execution_store.js';
export * from './segment_log.js';
export * from './frame.js';
export * from './crc32.js';
export * from './telemetry_schemas.js';
export * from './telemetry_ingester.js';
export * from './quality_score.js';
export * from './usage_export.js';
export * from './time_spec.js';
export * from '../util/percentile.js';
export { canonicalJson, hashJson as canonicalHash } from '../util/canonical_json.js';
export * from './production_examples.js';
export * from './cron.js';
export * from '../util/clock.js';
export * from './scheduler.js';
export * from './pipeline_locks.js';
export * from './policy.js';
export * from './promotion_guard.js';
export * from './line_diff.js';
export * from './run_ledger.js';
export * from './config_registry.js';
export {
  fsyncDir,
  writeFileAtomic,
  writeJsonAtomic,
  readJsonIfExists,
  appendLineDurable,
  readJsonLines,
} from '../util/atomic_file.js';
export { Rng, deriveSeed } from '../util/rng.js';
