export { DecodeError } from './decode-error.js';
export { crc32c } from './crc32c.js';
export * from './record-batch/header.js';
export { Reader } from './primitives/reader.js';
export { Writer, unsignedVarintSize, varintSize } from './primitives/writer.js';
