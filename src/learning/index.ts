// Continuous learning: execution store, telemetry ingestion, usage export, production examples,
// cron scheduler, re-optimization policy, promotion guard, run ledger, current-config registry.
export * from './continuousLearner.js';
export * from './executionRecord.js';
export * from './executionStore.js';
export * from './segmentLog.js';
export * from './frame.js';
export * from './crc32.js';
export * from './telemetrySchemas.js';
export * from './telemetryIngester.js';
export * from './qualityScore.js';
export * from './usageExport.js';
export * from './timeSpec.js';
export * from './percentile.js';
export * from './canonicalHash.js';
export * from './productionExamples.js';
export * from './cron.js';
export * from './clock.js';
export * from './scheduler.js';
export * from './pipelineLocks.js';
export * from './policy.js';
export * from './promotionGuard.js';
export * from './lineDiff.js';
export * from './runLedger.js';
export * from './configRegistry.js';
export * from './atomicFile.js';
export * from './prng.js';
