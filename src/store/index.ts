// The execution store: production execution records in CRC-framed, size-rotated segment files
// (segment_log.ts, frame.ts), with the record schema (execution_record.ts) and the typed store
// continuous learning appends to and exports from (execution_store.ts).
export * from './execution_record.js';
export * from './execution_store.js';
export * from './segment_log.js';
export * from './frame.js';
