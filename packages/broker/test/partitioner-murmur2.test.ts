import test from 'ava';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { Partitioners } from 'kafkajs';
import { murmur2, partitionForKey, toPositive } from '../src/partitioner.js';

// kafkajs's DefaultPartitioner is an independent implementation (built on a 64-bit Long type);
// its murmur2 module is not exported, so it is loaded by path.
const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;

// The Java client's own vectors: UtilsTest.testMurmur2 in apache/kafka.
const javaVectors: ReadonlyArray<[string, number]> = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

test('murmur2 gives the Java client the same hashes (UtilsTest.testMurmur2)', (t) => {
  for (const [key, expected] of javaVectors) t.is(murmur2(Buffer.from(key)), expected, key);
});

test('murmur2 of the empty key is the seed mixed with length 0, as in Java', (t) => {
  t.is(murmur2(Buffer.alloc(0)), kafkajsMurmur2(Buffer.alloc(0)));
  t.is(murmur2(Buffer.alloc(0)), 275646681);
});

test('murmur2 agrees with kafkajs on random keys of every tail length', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => {
      const key = Buffer.from(bytes);
      return murmur2(key) === kafkajsMurmur2(key);
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test('partitionForKey agrees with kafkajs DefaultPartitioner for random keys and partition counts', (t) => {
  const kafkajsPartitioner = Partitioners.DefaultPartitioner();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 48 }), fc.integer({ min: 1, max: 1000 }), (bytes, partitionCount) => {
      const key = Buffer.from(bytes);
      const partitionMetadata = Array.from({ length: partitionCount }, (_, partitionId) => ({
        partitionId,
        leader: 1,
        partitionErrorCode: 0,
        replicas: [1],
        isr: [1],
      }));
      const expected = kafkajsPartitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
      return partitionForKey(key, partitionCount) === expected;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('partitionForKey places the Java vectors where the Java client does', (t) => {
  // toPositive(-973932308) = 1173551340; % 3 = 0; 'abc' = 479470107 % 7 = 3.
  t.is(partitionForKey(Buffer.from('21'), 3), 1173551340 % 3);
  t.is(partitionForKey(Buffer.from('abc'), 7), 479470107 % 7);
  t.is(toPositive(-2147483648), 0);
  t.is(toPositive(-1), 0x7fffffff);
});

test('partitionForKey refuses a partition count that is not a positive integer', (t) => {
  t.throws(() => partitionForKey(Buffer.from('k'), 0), { instanceOf: RangeError });
  t.throws(() => partitionForKey(Buffer.from('k'), 1.5), { instanceOf: RangeError });
});
