import { DecodeError } from '../decode-error.js';
import { encodeRecordBatch, type Record } from './batch.js';

/*
 * Control records: the commit and abort markers a transaction coordinator writes. A control batch
 * has attributes transactional + control, baseSequence -1 and exactly one record:
 *
 *   key    version int16 (0), type int16 (0 = abort, 1 = commit; KRaft uses 2.. for its own markers)
 *   value  version int16 (0), coordinatorEpoch int32            (for abort and commit)
 */

export type ControlRecordType = 'abort' | 'commit';

export type ControlRecord =
  | { type: ControlRecordType; version: number; coordinatorEpoch: number }
  /** A control type this codec does not interpret (e.g. KRaft's leader-change and snapshot markers). */
  | { type: 'unknown'; typeId: number; version: number };

export interface ControlBatchInput {
  producerId: bigint;
  producerEpoch: number;
  type: ControlRecordType;
  coordinatorEpoch: number;
  timestamp: bigint;
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
}

const CONTROL_KEY_VERSION = 0;
const END_TXN_MARKER_VERSION = 0;
const CONTROL_KEY_BYTES = 4;
const END_TXN_MARKER_BYTES = 6;
const TYPE_ID_ABORT = 0;
const TYPE_ID_COMMIT = 1;

export function encodeControlKey(type: ControlRecordType): Buffer {
  const key = Buffer.allocUnsafe(CONTROL_KEY_BYTES);
  key.writeInt16BE(CONTROL_KEY_VERSION, 0);
  key.writeInt16BE(type === 'commit' ? TYPE_ID_COMMIT : TYPE_ID_ABORT, 2);
  return key;
}

export function encodeEndTxnMarkerValue(coordinatorEpoch: number): Buffer {
  const value = Buffer.allocUnsafe(END_TXN_MARKER_BYTES);
  value.writeInt16BE(END_TXN_MARKER_VERSION, 0);
  value.writeInt32BE(coordinatorEpoch, 2);
  return value;
}

/** A control batch holding one commit or abort marker, as the transaction coordinator writes it. */
export function encodeControlBatch(input: ControlBatchInput): Buffer {
  return encodeRecordBatch({
    baseOffset: input.baseOffset ?? 0n,
    partitionLeaderEpoch: input.partitionLeaderEpoch ?? -1,
    transactional: true,
    control: true,
    producerId: input.producerId,
    producerEpoch: input.producerEpoch,
    baseSequence: -1,
    records: [{ timestamp: input.timestamp, key: encodeControlKey(input.type), value: encodeEndTxnMarkerValue(input.coordinatorEpoch) }],
  });
}

/**
 * Reads the marker in a control batch's record. A newer key version is read as far as version 0
 * goes (Kafka does the same); a malformed key or marker is a DecodeError.
 */
export function decodeControlRecord(record: Record): ControlRecord {
  const key = record.key;
  if (key === null || key.length < CONTROL_KEY_BYTES) {
    throw new DecodeError(`control record key has ${key?.length ?? 'null'} bytes, needs ${CONTROL_KEY_BYTES}`, 0, 'ControlRecord.key');
  }
  const version = key.readInt16BE(0);
  if (version < 0) throw new DecodeError(`invalid control key version ${version}`, 0, 'ControlRecord.key.version');
  const typeId = key.readInt16BE(2);
  if (typeId !== TYPE_ID_ABORT && typeId !== TYPE_ID_COMMIT) return { type: 'unknown', typeId, version };
  const value = record.value;
  if (value === null || value.length < END_TXN_MARKER_BYTES) {
    throw new DecodeError(`end transaction marker has ${value?.length ?? 'null'} bytes, needs ${END_TXN_MARKER_BYTES}`, 0, 'ControlRecord.value');
  }
  const markerVersion = value.readInt16BE(0);
  if (markerVersion < 0) throw new DecodeError(`invalid end transaction marker version ${markerVersion}`, 0, 'ControlRecord.value.version');
  return { type: typeId === TYPE_ID_COMMIT ? 'commit' : 'abort', version, coordinatorEpoch: value.readInt32BE(2) };
}
