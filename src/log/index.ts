// Public surface of the storage engine: the LogStore contract and its implementations.
// Layers above import from here only, never from individual files in src/log.
export type * from './types.js';
export { RecordRun } from './record-run.js';
export { PackedRecords } from './packed-records.js';
export { createMemoryLogStore, type MemoryLogStoreOptions } from './memory-log-store.js';
export { createKafkaLogStore, type KafkaLogStoreOptions } from './kafka/kafka-log-store.js';
export { createFileLogStore, CLEAN_SHUTDOWN_MARKER, type FileLogStoreOptions } from './file-log-store.js';
export { nodeLogFs, faultInjectingLogFs, type LogFs, type LogFileHandle, type FaultOp } from './log-fs.js';
export { LogCorruptionError } from './segment.js';
export { LogUnavailableError } from './log-unavailable.js';
export { RESERVED_HEADER_PREFIX, MAX_TAG_BYTES, recordDataBytes } from './append-input.js';
export type { LogLogger } from './logger.js';
