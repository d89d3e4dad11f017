export { createProgram, runCli, processIo, type CliIo } from './program.js';
export { dumpFile, dumpLogSegment, type DumpOptions, type DumpSummary } from './dump-log.js';
export { runStorageNode, type StorageNodeOptions } from './start.js';
