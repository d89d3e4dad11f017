import test from 'ava';
import { ErrorCode, errorByCode, errorByName, errorTable, isRetriableError } from '@defter/protocol';

test('known codes have their names and retriable flags', (t) => {
  const expected: Array<[number, string, boolean]> = [
    [-1, 'UNKNOWN_SERVER_ERROR', false],
    [0, 'NONE', false],
    [1, 'OFFSET_OUT_OF_RANGE', false],
    [2, 'CORRUPT_MESSAGE', true],
    [3, 'UNKNOWN_TOPIC_OR_PARTITION', true],
    [5, 'LEADER_NOT_AVAILABLE', true],
    [6, 'NOT_LEADER_OR_FOLLOWER', true],
    [10, 'MESSAGE_TOO_LARGE', false],
    [14, 'COORDINATOR_LOAD_IN_PROGRESS', true],
    [15, 'COORDINATOR_NOT_AVAILABLE', true],
    [16, 'NOT_COORDINATOR', true],
    [22, 'ILLEGAL_GENERATION', false],
    [25, 'UNKNOWN_MEMBER_ID', false],
    [27, 'REBALANCE_IN_PROGRESS', false],
    [35, 'UNSUPPORTED_VERSION', false],
    [36, 'TOPIC_ALREADY_EXISTS', false],
    [42, 'INVALID_REQUEST', false],
    [45, 'OUT_OF_ORDER_SEQUENCE_NUMBER', false],
    [47, 'INVALID_PRODUCER_EPOCH', false],
    [51, 'CONCURRENT_TRANSACTIONS', true],
    [76, 'UNSUPPORTED_COMPRESSION_TYPE', false],
    [79, 'MEMBER_ID_REQUIRED', false],
    [87, 'INVALID_RECORD', false],
    [100, 'UNKNOWN_TOPIC_ID', true],
  ];
  for (const [code, name, retriable] of expected) {
    const info = errorByCode(code);
    t.is(info?.name, name, `code ${code}`);
    t.is(info?.retriable, retriable, name);
    t.is(isRetriableError(code), retriable, name);
    t.is(errorByName(name)?.code, code, name);
  }
});

test('named constants match the table', (t) => {
  t.is(ErrorCode.NONE, 0);
  t.is(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 3);
  t.is(ErrorCode.UNSUPPORTED_VERSION, 35);
  t.is(ErrorCode.MEMBER_ID_REQUIRED, 79);
  for (const row of errorTable) t.is((ErrorCode as Record<string, number>)[row.name], row.code);
});

test('the table is complete, ascending and without duplicates', (t) => {
  t.is(errorTable.length, 130);
  t.is(errorTable[0].code, -1);
  t.is(errorTable[errorTable.length - 1]!.code, 128);
  const codes = errorTable.map((row) => row.code);
  t.deepEqual(codes, [...codes].sort((a, b) => a - b));
  t.is(new Set(codes).size, codes.length);
  t.is(new Set(errorTable.map((row) => row.name)).size, codes.length);
  // Every code from -1 to 128 is defined.
  t.deepEqual(codes, Array.from({ length: 130 }, (_, i) => i - 1));
  for (const row of errorTable) if (row.code !== 0) t.true(row.description.length > 0, row.name);
  t.is(errorByCode(-1)?.description, 'The server experienced an unexpected error when processing the request.');
});

test('unknown codes and names are undefined and not retriable', (t) => {
  t.is(errorByCode(9999), undefined);
  t.is(errorByName('NO_SUCH_ERROR'), undefined);
  t.false(isRetriableError(9999));
});
