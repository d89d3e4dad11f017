import { DecodeError, Reader, Writer, decodeMessage, writeMessage } from '@defter/protocol';
import type { MessageSchema } from '@defter/protocol';
import type { TopicPartitions } from './topic-partition-set.js';
import { transactionStateFromId, transactionStateId } from './transaction-state.js';
import type { TransactionState } from './transaction-state.js';

/**
 * The records of `__transaction_state`, byte for byte as Kafka writes them (Kafka's
 * `TransactionLogKey.json` / `TransactionLogValue.json`), so that Kafka's tools read them.
 *
 * Key   = int16 version 0, TransactionalId string                       (never flexible)
 * Value = int16 version, then
 *   ProducerId int64, ProducerEpoch int16, TransactionTimeoutMs int32, TransactionStatus int8,
 *   TransactionPartitions nullable [Topic string, PartitionIds [int32]],
 *   TransactionLastUpdateTimestampMs int64, TransactionStartTimestampMs int64
 *   v0: classic strings and arrays (Kafka with transaction.version 0).
 *   v1: flexible — compact strings/arrays, tagged fields after each struct (Kafka with transaction.version 1+):
 *       tag 0 PreviousProducerId int64 (default -1), tag 1 NextProducerId int64 (default -1),
 *       tag 2 ClientTransactionVersion int16 (default 0). A tag is written only when not its default.
 * Encoding v0 drops the tagged fields (they are ignorable). defter writes v1. Kafka leaves tags 0 and 1 at their defaults; defter fills them when it has them
 * (a rotated producer id must survive a restart), which every reader of the v1 schema accepts.
 * A null value (a tombstone) removes an expired transactional id.
 */

export const TRANSACTION_LOG_KEY_VERSION = 0;
/** The value version defter writes: the newest Kafka defines. */
export const TRANSACTION_LOG_VALUE_VERSION = 1;
const VALUE_VERSION_MAX = 1;

/** The declarative form of Kafka's `TransactionLogKey.json`, read by the generic codec. */
const TransactionLogKeySchema: MessageSchema<{ transactionalId: string }> = {
  name: 'TransactionLogKey',
  type: 'data',
  validVersions: '0',
  flexibleVersions: 'none',
  fields: [{ name: 'TransactionalId', key: 'transactionalId', kind: 'primitive', type: 'string', versions: '0' }],
};

/** The wire form of a value, field for field. */
interface TransactionLogValueData {
  producerId: bigint;
  previousProducerId: bigint;
  nextProducerId: bigint;
  producerEpoch: number;
  transactionTimeoutMs: number;
  transactionStatus: number;
  transactionPartitions: Array<{ topic: string; partitionIds: number[] }> | null;
  transactionLastUpdateTimestampMs: bigint;
  transactionStartTimestampMs: bigint;
  clientTransactionVersion: number;
}

/** The declarative form of Kafka's `TransactionLogValue.json`. */
const TransactionLogValueSchema: MessageSchema<TransactionLogValueData> = {
  name: 'TransactionLogValue',
  type: 'data',
  validVersions: '0-1',
  flexibleVersions: '1+',
  fields: [
    { name: 'ProducerId', key: 'producerId', kind: 'primitive', type: 'int64', versions: '0+' },
    { name: 'PreviousProducerId', key: 'previousProducerId', kind: 'primitive', type: 'int64', versions: '1+', taggedVersions: '1+', tag: 0, default: -1n, ignorable: true },
    { name: 'NextProducerId', key: 'nextProducerId', kind: 'primitive', type: 'int64', versions: '1+', taggedVersions: '1+', tag: 1, default: -1n, ignorable: true },
    { name: 'ProducerEpoch', key: 'producerEpoch', kind: 'primitive', type: 'int16', versions: '0+' },
    { name: 'TransactionTimeoutMs', key: 'transactionTimeoutMs', kind: 'primitive', type: 'int32', versions: '0+' },
    { name: 'TransactionStatus', key: 'transactionStatus', kind: 'primitive', type: 'int8', versions: '0+' },
    {
      name: 'TransactionPartitions',
      key: 'transactionPartitions',
      kind: 'structArray',
      versions: '0+',
      nullableVersions: '0+',
      struct: {
        name: 'PartitionsSchema',
        fields: [
          { name: 'Topic', key: 'topic', kind: 'primitive', type: 'string', versions: '0+' },
          { name: 'PartitionIds', key: 'partitionIds', kind: 'primitiveArray', type: 'int32', versions: '0+' },
        ],
      },
    },
    { name: 'TransactionLastUpdateTimestampMs', key: 'transactionLastUpdateTimestampMs', kind: 'primitive', type: 'int64', versions: '0+' },
    { name: 'TransactionStartTimestampMs', key: 'transactionStartTimestampMs', kind: 'primitive', type: 'int64', versions: '0+' },
    { name: 'ClientTransactionVersion', key: 'clientTransactionVersion', kind: 'primitive', type: 'int16', versions: '1+', taggedVersions: '1+', tag: 2, default: 0, ignorable: true },
  ],
};

/** What a key of `__transaction_state` says. */
export type TransactionLogKey =
  | { readonly type: 'transaction'; readonly version: number; readonly transactionalId: string }
  | { readonly type: 'unknown'; readonly version: number };

/** The stored state of one transactional id. */
export interface TransactionLogValue {
  readonly producerId: bigint;
  /** The producer id before the last rotation (epoch exhaustion), or -1. */
  readonly previousProducerId: bigint;
  /** The producer id a completing transaction rotates to (epoch exhaustion, transaction version 2), or -1. */
  readonly nextProducerId: bigint;
  readonly producerEpoch: number;
  readonly transactionTimeoutMs: number;
  readonly state: TransactionState;
  /** Empty in state Empty (stored as a null array). */
  readonly partitions: readonly TopicPartitions[];
  readonly lastUpdateTimestampMs: number;
  /** -1 while no transaction has started. */
  readonly startTimestampMs: number;
  /** The `transaction.version` the client spoke at the last transition (0 in v0 values). */
  readonly clientTransactionVersion: number;
}

export function encodeTransactionLogKey(transactionalId: string): Buffer {
  const writer = new Writer(2 + 2 + transactionalId.length);
  writer.int16(TRANSACTION_LOG_KEY_VERSION);
  writeMessage(writer, TransactionLogKeySchema, TRANSACTION_LOG_KEY_VERSION, { transactionalId });
  return writer.finish();
}

/** Keys of versions Kafka does not define come back as `unknown` (the loader skips them). */
export function decodeTransactionLogKey(bytes: Buffer): TransactionLogKey {
  const reader = new Reader(bytes);
  const version = reader.int16();
  if (version < 0) throw new DecodeError(`negative key version ${version}`, 0, 'TransactionLogKey.version');
  if (version !== TRANSACTION_LOG_KEY_VERSION) return { type: 'unknown', version };
  const { transactionalId } = decodeMessage(TransactionLogKeySchema, version, reader);
  reader.assertFullyConsumed('TransactionLogKey');
  return { type: 'transaction', version, transactionalId };
}

/**
 * Encodes a value at `version` (1 unless a reader needs 0). A value in state Empty must have no
 * partitions (Kafka's own invariant; breaking it is a programmer error).
 */
export function encodeTransactionLogValue(value: TransactionLogValue, version: number = TRANSACTION_LOG_VALUE_VERSION): Buffer {
  if (value.state === 'Empty' && value.partitions.length > 0) {
    throw new RangeError(`a transaction in state Empty cannot have partitions (${value.partitions.length} topics given)`);
  }
  const data: TransactionLogValueData = {
    producerId: value.producerId,
    previousProducerId: value.previousProducerId,
    nextProducerId: value.nextProducerId,
    producerEpoch: value.producerEpoch,
    transactionTimeoutMs: value.transactionTimeoutMs,
    transactionStatus: transactionStateId(value.state),
    transactionPartitions:
      value.state === 'Empty' ? null : value.partitions.map(({ topic, partitions }) => ({ topic, partitionIds: [...partitions] })),
    transactionLastUpdateTimestampMs: BigInt(value.lastUpdateTimestampMs),
    transactionStartTimestampMs: BigInt(value.startTimestampMs),
    clientTransactionVersion: value.clientTransactionVersion,
  };
  const writer = new Writer(64);
  writer.int16(version);
  writeMessage(writer, TransactionLogValueSchema, version, data);
  return writer.finish();
}

/**
 * Decodes a value of version 0 or 1. A newer version is refused (as Kafka does): reading it with an
 * older layout could misread a transaction's state. Malformed bytes throw `DecodeError`.
 */
export function decodeTransactionLogValue(bytes: Buffer): TransactionLogValue {
  const reader = new Reader(bytes);
  const version = reader.int16();
  if (version < 0 || version > VALUE_VERSION_MAX) {
    throw new DecodeError(`unknown value version ${version} (known: 0-${VALUE_VERSION_MAX})`, 0, 'TransactionLogValue.version');
  }
  const data = decodeMessage(TransactionLogValueSchema, version, reader);
  reader.assertFullyConsumed('TransactionLogValue');
  const state = transactionStateFromId(data.transactionStatus);
  if (state === undefined) {
    throw new DecodeError(`unknown transaction status ${data.transactionStatus}`, 2 + 8 + 2 + 4, 'TransactionLogValue.transactionStatus');
  }
  return {
    producerId: data.producerId,
    previousProducerId: data.previousProducerId,
    nextProducerId: data.nextProducerId,
    producerEpoch: data.producerEpoch,
    transactionTimeoutMs: data.transactionTimeoutMs,
    state,
    // Kafka ignores whatever partitions an Empty value lists.
    partitions:
      state === 'Empty' || data.transactionPartitions === null
        ? []
        : data.transactionPartitions.map(({ topic, partitionIds }) => ({ topic, partitions: partitionIds })),
    lastUpdateTimestampMs: Number(data.transactionLastUpdateTimestampMs),
    startTimestampMs: Number(data.transactionStartTimestampMs),
    clientTransactionVersion: data.clientTransactionVersion,
  };
}
