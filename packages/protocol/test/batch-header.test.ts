import test from 'ava';
import { DecodeError, readBatchHeader, BATCH_HEADER_BYTES } from '@defter/protocol';

test('a header shorter than 61 bytes is a DecodeError', (t) => {
  const error = t.throws(() => readBatchHeader(Buffer.alloc(BATCH_HEADER_BYTES - 1)));
  t.true(error instanceof DecodeError);
});
