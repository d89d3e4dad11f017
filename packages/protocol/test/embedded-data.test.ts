import test from 'ava';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import {
  ConsumerProtocolAssignmentSchema,
  ConsumerProtocolSubscriptionSchema,
  DecodeError,
  EncodeError,
  Writer,
  decodeVersionedData,
  encodeVersionedData,
} from '@defter/protocol';
import type { ConsumerProtocolAssignment, ConsumerProtocolSubscription, MessageSchema } from '@defter/protocol';

/**
 * The consumer protocol's embedded messages (int16 version + the struct at that version), through
 * the generated schemas. kafkajs 2.2.4's `assignerProtocol.js` (MemberMetadata = subscription,
 * MemberAssignment = assignment) is the independent encoder for golden bytes; it writes only the
 * version-0 fields, so it is compared at version 0 for subscriptions and at every version for
 * assignments (whose fields are the same in versions 0-3).
 */

const require = createRequire(import.meta.url);

interface KafkajsAssignerProtocol {
  MemberMetadata: {
    encode(args: { version: number; topics: string[]; userData?: Buffer | null }): Buffer;
    decode(bytes: Buffer): { version: number; topics: string[]; userData: Buffer | null };
  };
  MemberAssignment: {
    encode(args: { version: number; assignment: Record<string, number[]>; userData?: Buffer | null }): Buffer;
    decode(bytes: Buffer): { version: number; assignment: Record<string, number[]>; userData: Buffer | null } | null;
  };
}

const kafkajs = require('kafkajs/src/consumer/assignerProtocol.js') as KafkajsAssignerProtocol;

const VERSIONS = [0, 1, 2, 3];

const topicName = fc.string({ maxLength: 12 });
const userData = fc.option(
  fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes)),
  { nil: null },
);
const topicPartitions = fc.array(
  fc.record({ topic: topicName, partitions: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 6 }) }),
  { maxLength: 5 },
);

/** A subscription as decoded at `version`: fields the version lacks hold their spec defaults. */
function subscriptionAt(version: number, full: Required<ConsumerProtocolSubscription>): ConsumerProtocolSubscription {
  return {
    topics: full.topics,
    userData: full.userData,
    ownedPartitions: version >= 1 ? full.ownedPartitions : [],
    generationId: version >= 2 ? full.generationId : -1,
    rackId: version >= 3 ? full.rackId : null,
  };
}

const fullSubscription = fc.record({
  topics: fc.array(topicName, { maxLength: 6 }),
  userData,
  ownedPartitions: topicPartitions,
  generationId: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
  rackId: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
});

test('subscriptions round-trip at every version, version first', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...VERSIONS), fullSubscription, (version, full) => {
      const data = subscriptionAt(version, full);
      const bytes = encodeVersionedData(ConsumerProtocolSubscriptionSchema, version, data);
      t.is(bytes.readInt16BE(0), version);
      t.deepEqual(decodeVersionedData(ConsumerProtocolSubscriptionSchema, bytes), { version, data });
    }),
  );
});

test('assignments round-trip at every version, version first', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...VERSIONS), topicPartitions, userData, (version, assignedPartitions, userDataValue) => {
      const data: ConsumerProtocolAssignment = { assignedPartitions, userData: userDataValue };
      const bytes = encodeVersionedData(ConsumerProtocolAssignmentSchema, version, data);
      t.is(bytes.readInt16BE(0), version);
      t.deepEqual(decodeVersionedData(ConsumerProtocolAssignmentSchema, bytes), { version, data });
    }),
  );
});

test('a version-3 subscription has the exact layout of the spec', (t) => {
  const bytes = encodeVersionedData(ConsumerProtocolSubscriptionSchema, 3, {
    topics: ['t'],
    userData: null,
    ownedPartitions: [{ topic: 't', partitions: [1] }],
    generationId: 7,
    rackId: 'r',
  });
  const expected =
    '0003' + // version
    '00000001' + '0001' + '74' + // topics: ['t']
    'ffffffff' + // user data: null
    '00000001' + '0001' + '74' + '00000001' + '00000001' + // owned partitions: t [1]
    '00000007' + // generation id
    '0001' + '72'; // rack id: 'r'
  t.is(bytes.toString('hex'), expected);
});

test('golden bytes: subscriptions v0 equal kafkajs MemberMetadata, and each side reads the other', (t) => {
  fc.assert(
    fc.property(fc.array(topicName, { maxLength: 6 }), fc.uint8Array({ maxLength: 16 }), (topics, rawUserData) => {
      const userDataValue = Buffer.from(rawUserData);
      const theirs = kafkajs.MemberMetadata.encode({ version: 0, topics, userData: userDataValue });
      const ours = encodeVersionedData(ConsumerProtocolSubscriptionSchema, 0, { topics, userData: userDataValue });
      t.is(ours.toString('hex'), theirs.toString('hex'));
      t.deepEqual(decodeVersionedData(ConsumerProtocolSubscriptionSchema, theirs), {
        version: 0,
        data: { topics, userData: userDataValue, ownedPartitions: [], generationId: -1, rackId: null },
      });
      t.deepEqual(kafkajs.MemberMetadata.decode(ours), { version: 0, topics, userData: userDataValue });
    }),
  );
  // kafkajs's default user data is empty bytes, not null.
  t.is(kafkajs.MemberMetadata.encode({ version: 0, topics: ['a'] }).toString('hex'), '0000' + '00000001' + '0001' + '61' + '00000000');
  t.is(encodeVersionedData(ConsumerProtocolSubscriptionSchema, 0, { topics: ['a'], userData: Buffer.alloc(0) }).toString('hex'), '0000' + '00000001' + '0001' + '61' + '00000000');
});

test('golden bytes: assignments of every version equal kafkajs MemberAssignment, and each side reads the other', (t) => {
  // kafkajs keys the assignment by topic, so topics are distinct here.
  const distinctTopics = fc.uniqueArray(
    fc.record({ topic: topicName, partitions: fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 6 }) }),
    { selector: (entry) => entry.topic, maxLength: 5 },
  );
  fc.assert(
    fc.property(fc.constantFrom(...VERSIONS), distinctTopics, userData, (version, assignedPartitions, userDataValue) => {
      const assignment = Object.fromEntries(assignedPartitions.map(({ topic, partitions }) => [topic, partitions]));
      const theirs = kafkajs.MemberAssignment.encode({ version, assignment, userData: userDataValue });
      const ours = encodeVersionedData(ConsumerProtocolAssignmentSchema, version, { assignedPartitions, userData: userDataValue });
      // kafkajs orders topics by Object.keys, which puts integer-like names first.
      const oursInTheirOrder = encodeVersionedData(ConsumerProtocolAssignmentSchema, version, {
        assignedPartitions: Object.keys(assignment).map((topic) => ({ topic, partitions: assignment[topic]! })),
        userData: userDataValue,
      });
      t.is(oursInTheirOrder.toString('hex'), theirs.toString('hex'));
      t.deepEqual(decodeVersionedData(ConsumerProtocolAssignmentSchema, theirs), {
        version,
        data: { assignedPartitions: Object.keys(assignment).map((topic) => ({ topic, partitions: assignment[topic] })), userData: userDataValue },
      });
      t.deepEqual(kafkajs.MemberAssignment.decode(ours), { version, assignment, userData: userDataValue });
    }),
  );
});

test('a newer version is read with the newest known format; the fields it appends are ignored', (t) => {
  const v3Body = encodeVersionedData(ConsumerProtocolSubscriptionSchema, 3, {
    topics: ['a', 'b'],
    userData: Buffer.from('u'),
    ownedPartitions: [{ topic: 'a', partitions: [0, 2] }],
    generationId: 4,
    rackId: 'rack-1',
  }).subarray(2);
  const v9 = Buffer.concat([new Writer().int16(9).finish(), v3Body, new Writer().int32(42).string('a future field').finish()]);
  t.deepEqual(decodeVersionedData(ConsumerProtocolSubscriptionSchema, v9), {
    version: 9,
    data: { topics: ['a', 'b'], userData: Buffer.from('u'), ownedPartitions: [{ topic: 'a', partitions: [0, 2] }], generationId: 4, rackId: 'rack-1' },
  });
  // Trailing bytes after a known version are ignored too, as Kafka's consumer does.
  const v1WithExtra = new Writer().int16(1).arrayLength(1).string('x').arrayLength(1).int32(5).nullableBytes(Buffer.from('ud')).int16(7).finish();
  t.deepEqual(decodeVersionedData(ConsumerProtocolAssignmentSchema, v1WithExtra), {
    version: 1,
    data: { assignedPartitions: [{ topic: 'x', partitions: [5] }], userData: Buffer.from('ud') },
  });
});

test('encoding a version the schema lacks is an EncodeError', (t) => {
  t.throws(() => encodeVersionedData(ConsumerProtocolAssignmentSchema, 4, { assignedPartitions: [], userData: null }), { instanceOf: EncodeError });
  t.throws(() => encodeVersionedData(ConsumerProtocolAssignmentSchema, -1, { assignedPartitions: [], userData: null }), { instanceOf: EncodeError });
});

function decodeErrorOf(schema: MessageSchema<unknown>, bytes: Buffer): DecodeError | undefined {
  try {
    decodeVersionedData(schema, bytes);
    return undefined;
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
}

test('hostile input raises DecodeError only: negative versions, truncations, garbage', (t) => {
  const schemas: MessageSchema<unknown>[] = [ConsumerProtocolSubscriptionSchema, ConsumerProtocolAssignmentSchema];
  for (const schema of schemas) {
    t.is(decodeErrorOf(schema, Buffer.alloc(0))?.offset, 0);
    t.is(decodeErrorOf(schema, Buffer.from([0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]))?.field, `${schema.name}.version`);
    // An array length far beyond the input fails before allocating anything.
    t.truthy(decodeErrorOf(schema, Buffer.from([0, 0, 0x7f, 0xff, 0xff, 0xff, 0])));
  }
  // Every strict prefix of a valid encoding is truncated, at every version.
  fc.assert(
    fc.property(fc.constantFrom(...VERSIONS), fullSubscription, (version, full) => {
      const bytes = encodeVersionedData(ConsumerProtocolSubscriptionSchema, version, subscriptionAt(version, full));
      for (let length = 0; length < bytes.length; length++) {
        if (decodeErrorOf(ConsumerProtocolSubscriptionSchema, bytes.subarray(0, length)) === undefined) return false;
      }
      return true;
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 96 }), (raw) => {
      for (const schema of schemas) decodeErrorOf(schema, Buffer.from(raw));
    }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...VERSIONS), fc.uint8Array({ maxLength: 96 }), (version, raw) => {
      const bytes = Buffer.concat([new Writer().int16(version).finish(), raw]);
      for (const schema of schemas) decodeErrorOf(schema, bytes);
    }),
  );
});
