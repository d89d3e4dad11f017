import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { isControl, isTransactional } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { ProducerStateManager, readEndTxnMarker, type CompletedTransaction } from '../src/producer-state.js';
import {
  ABORTED_TXN_ENTRY_BYTES,
  collectAbortedTransactions,
  decodeAbortedTxn,
  encodeAbortedTxn,
  TransactionIndex,
  type AbortedTransaction,
  type AbortedTxn,
  type TxnIndexSearchResult,
} from '../src/transaction-index.js';
import { EXPIRATION_MS, runWorkload, workloadArbitrary } from './helpers/producer-model.js';
import { tempDir } from './helpers/temp-dir.js';

const START = 1000n;

/** Strictly increasing markers from START on; each transaction starts at or before its marker. */
const entriesArbitrary: fc.Arbitrary<AbortedTxn[]> = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 80 }), fc.bigInt({ min: 0n, max: 20n })), { maxLength: 60 })
  .map((steps) => {
    let last = START - 1n;
    return steps.map(([step, span, lsoBack, producerId]) => {
      last += BigInt(step);
      const firstOffset = last - BigInt(span) < 0n ? 0n : last - BigInt(span);
      const lastStableOffset = last + 1n - BigInt(lsoBack) < 0n ? 0n : last + 1n - BigInt(lsoBack);
      return { producerId, firstOffset, lastOffset: last, lastStableOffset };
    });
  });

/** Oracle: a plain scan of the array, as the format defines the search. */
function oracleCollect(entries: readonly AbortedTxn[], fetchOffset: bigint, upperBoundOffset: bigint): TxnIndexSearchResult {
  const abortedTransactions: AbortedTransaction[] = [];
  for (const entry of entries) {
    if (entry.lastOffset >= fetchOffset && entry.firstOffset < upperBoundOffset) abortedTransactions.push({ producerId: entry.producerId, firstOffset: entry.firstOffset });
    if (entry.lastStableOffset >= upperBoundOffset) return { abortedTransactions, isComplete: true };
  }
  return { abortedTransactions, isComplete: false };
}

test("an entry is Kafka's 34 bytes: version, producer id, first offset, last offset, LSO", (t) => {
  const txn = { producerId: 0x1122334455667788n, firstOffset: 5n, lastOffset: 9n, lastStableOffset: 7n };
  const expected = Buffer.from('0000' + '1122334455667788' + '0000000000000005' + '0000000000000009' + '0000000000000007', 'hex');
  t.is(expected.length, ABORTED_TXN_ENTRY_BYTES);
  t.deepEqual(encodeAbortedTxn(txn), expected);
  t.deepEqual(decodeAbortedTxn(expected), { version: 0, ...txn });
});

test('the file appears on the first append, holds exactly the entries, and survives a reopen', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, '00000000000000001000.txnindex');
  const index = await TransactionIndex.open(file, START);
  t.is(index.collectAbortedTransactions(0n, 10_000n).abortedTransactions.length, 0);
  await index.flush();
  await t.throwsAsync(stat(file), { code: 'ENOENT' });
  const entries = [
    { producerId: 1n, firstOffset: 1000n, lastOffset: 1005n, lastStableOffset: 1006n },
    { producerId: 2n, firstOffset: 1001n, lastOffset: 1010n, lastStableOffset: 1003n },
  ];
  for (const entry of entries) await index.append(entry);
  await index.flush();
  t.deepEqual(await readFile(file), Buffer.concat(entries.map((entry) => encodeAbortedTxn(entry))));
  await t.throwsAsync(index.append({ producerId: 3n, firstOffset: 1000n, lastOffset: 1010n, lastStableOffset: 1011n }), { instanceOf: RangeError });
  await index.close();
  const reopened = await TransactionIndex.open(file, START);
  t.deepEqual(reopened.allAbortedTxns(), entries);
  t.is(reopened.sanityCheck(), undefined);
  t.deepEqual(reopened.collectAbortedTransactions(1006n, 1008n), { abortedTransactions: [{ producerId: 2n, firstOffset: 1001n }], isComplete: false });
  // The first entry's LSO (1006) reaches the bound: nothing later can overlap, the search stops.
  t.deepEqual(reopened.collectAbortedTransactions(1000n, 1003n), { abortedTransactions: [{ producerId: 1n, firstOffset: 1000n }], isComplete: true });
  t.deepEqual(reopened.collectAbortedTransactions(1000n, 1020n), { abortedTransactions: [{ producerId: 1n, firstOffset: 1000n }, { producerId: 2n, firstOffset: 1001n }], isComplete: false });
  await reopened.reset();
  t.is((await stat(file)).size, 0);
  t.is(reopened.entryCount, 0);
  await reopened.renameTo(path.join(dir, '00000000000000001000.txnindex.deleted'));
  await reopened.delete();
  await t.throwsAsync(stat(reopened.path), { code: 'ENOENT' });
});

test('append, truncate, reopen and search agree with an array oracle', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      entriesArbitrary,
      fc.bigInt({ min: START - 10n, max: START + 3000n }),
      fc.array(fc.tuple(fc.bigInt({ min: 0n, max: START + 3000n }), fc.bigInt({ min: 0n, max: 3000n })), { maxLength: 20 }),
      async (entries, truncateAt, searches) => {
        const file = path.join(dir, `${run++}.txnindex`);
        let index = await TransactionIndex.open(file, START);
        for (const entry of entries) await index.append(entry);
        for (const [fetchOffset, width] of searches) t.deepEqual(index.collectAbortedTransactions(fetchOffset, fetchOffset + width), oracleCollect(entries, fetchOffset, fetchOffset + width));
        await index.truncateTo(truncateAt);
        const kept = entries.filter((entry) => entry.lastOffset < truncateAt);
        t.deepEqual(index.allAbortedTxns(), kept);
        await index.close();
        index = await TransactionIndex.open(file, START);
        t.deepEqual(index.allAbortedTxns(), kept);
        t.is((await stat(file).catch(() => ({ size: 0 }))).size, kept.length * ABORTED_TXN_ENTRY_BYTES);
        for (const [fetchOffset, width] of searches) t.deepEqual(index.collectAbortedTransactions(fetchOffset, fetchOffset + width), oracleCollect(kept, fetchOffset, fetchOffset + width));
        await index.close();
      },
    ),
    { numRuns: 150 },
  );
});

test('hostile files never crash open or search; sanityCheck names what is wrong', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 34 * 6 + 10 }), fc.bigInt({ min: -5n, max: 5000n }), async (raw, fetchOffset) => {
      const file = path.join(dir, `${run++}.txnindex`);
      await writeFile(file, raw);
      const index = await TransactionIndex.open(file, START);
      const problem = index.sanityCheck();
      t.true(problem === undefined || typeof problem === 'string');
      if (raw.length % ABORTED_TXN_ENTRY_BYTES !== 0) t.regex(problem ?? '', /not a multiple of 34/);
      const result = index.collectAbortedTransactions(fetchOffset, fetchOffset + 100n);
      t.true(Array.isArray(result.abortedTransactions));
      // Rebuilding after a failed check: reset and append leave a sane file.
      await index.reset();
      await index.append({ producerId: 1n, firstOffset: START, lastOffset: START + 1n, lastStableOffset: START + 2n });
      t.is(index.sanityCheck(), undefined);
      t.is((await stat(file)).size, ABORTED_TXN_ENTRY_BYTES);
      await index.close();
    }),
    { numRuns: 100 },
  );
});

test('sanityCheck: torn tail, unknown version, before the segment, out of order, inverted, LSO after the marker', async (t) => {
  const dir = await tempDir(t);
  const good = (lastOffset: bigint) => encodeAbortedTxn({ producerId: 1n, firstOffset: lastOffset - 1n, lastOffset, lastStableOffset: lastOffset + 1n });
  const cases: Array<[string, Buffer, RegExp | undefined]> = [
    ['sane', Buffer.concat([good(1001n), good(1002n)]), undefined],
    ['torn', Buffer.concat([good(1001n), good(1002n).subarray(0, 20)]), /not a multiple of 34/],
    ['version', (() => { const b = good(1001n); b.writeInt16BE(1, 0); return b; })(), /unknown version 1/],
    ['before', good(999n), /before the segment start 1000/],
    ['order', Buffer.concat([good(1002n), good(1002n)]), /not after 1002/],
    ['inverted', encodeAbortedTxn({ producerId: 1n, firstOffset: 1005n, lastOffset: 1001n, lastStableOffset: 1002n }), /spans \[1005, 1001\]/],
    ['lso', encodeAbortedTxn({ producerId: 1n, firstOffset: 1000n, lastOffset: 1001n, lastStableOffset: 1003n }), /last stable offset 1003 after its marker 1001/],
    ['producer', encodeAbortedTxn({ producerId: -1n, firstOffset: 1000n, lastOffset: 1001n, lastStableOffset: 1002n }), /producer id -1/],
  ];
  for (const [name, bytes, expected] of cases) {
    const file = path.join(dir, `${name}.txnindex`);
    await writeFile(file, bytes);
    const index = await TransactionIndex.open(file, START);
    const problem = index.sanityCheck();
    if (expected === undefined) t.is(problem, undefined, name);
    else t.regex(problem ?? '', expected, name);
    await index.close();
  }
  // A torn tail is overwritten by the next append.
  const torn = path.join(dir, 'torn.txnindex');
  const index = await TransactionIndex.open(torn, START);
  t.is(index.entryCount, 1);
  await index.append({ producerId: 2n, firstOffset: 1003n, lastOffset: 1004n, lastStableOffset: 1005n });
  t.is(index.sanityCheck(), undefined);
  t.is((await stat(torn)).size, 2 * ABORTED_TXN_ENTRY_BYTES);
  await index.close();
});

test('collectAbortedTransactions across segments stops at the first complete one', async (t) => {
  const dir = await tempDir(t);
  const a = await TransactionIndex.open(path.join(dir, 'a.txnindex'), 0n);
  const b = await TransactionIndex.open(path.join(dir, 'b.txnindex'), 100n);
  const c = await TransactionIndex.open(path.join(dir, 'c.txnindex'), 200n);
  await a.append({ producerId: 1n, firstOffset: 10n, lastOffset: 50n, lastStableOffset: 20n });
  await b.append({ producerId: 2n, firstOffset: 20n, lastOffset: 120n, lastStableOffset: 121n });
  await c.append({ producerId: 3n, firstOffset: 130n, lastOffset: 210n, lastStableOffset: 211n });
  t.deepEqual(collectAbortedTransactions([a, b, c], 30n, 110n), [
    { producerId: 1n, firstOffset: 10n },
    { producerId: 2n, firstOffset: 20n },
  ]);
  t.deepEqual(collectAbortedTransactions([b, c], 121n, 150n), [{ producerId: 3n, firstOffset: 130n }]);
  for (const index of [a, b, c]) await index.close();
});

/**
 * End to end: random transactional workloads; aborted transactions go to the index as the
 * markers are written; a read_committed consumer (Kafka's client algorithm) fetching from any
 * offset up to the LSO with the collected aborted list sees exactly the records that are not in
 * an aborted transaction.
 */
test('a read_committed consumer filtering with the index sees exactly the committed and non-transactional records', async (t) => {
  const root = await tempDir(t);
  let run = 0;
  let abortedSeen = 0;
  await fc.assert(
    fc.asyncProperty(workloadArbitrary({ expiry: true }), fc.double({ min: 0, max: 1, noNaN: true }), async (ops, fetchFraction) => {
      const clock = new ManualClock(1_000_000);
      const psm = await ProducerStateManager.open({ dir: root, clock, producerIdExpirationMs: EXPIRATION_MS });
      const index = await TransactionIndex.open(path.join(root, `${run++}.txnindex`), 0n);
      const completed: CompletedTransaction[] = [];
      const { log } = await runWorkload(psm, clock, ops, async (txn) => {
        completed.push(txn);
        if (txn.aborted) await index.append({ producerId: txn.producerId, firstOffset: txn.firstOffset, lastOffset: txn.lastOffset, lastStableOffset: txn.lastStableOffset });
      });
      psm.onHighWatermarkUpdated(log.nextOffset);
      const lso = psm.lastStableOffset(log.nextOffset);
      assert.equal(index.sanityCheck(), undefined);
      const fetchOffset = BigInt(Math.floor(Number(lso) * fetchFraction));

      // Truth: a transactional record is visible iff its transaction committed.
      const expected: bigint[] = [];
      const fetched = log.batches.filter((b) => b.header.baseOffset + BigInt(b.header.lastOffsetDelta) >= fetchOffset && b.header.baseOffset < lso);
      for (const { header } of fetched) {
        if (isControl(header.attributes)) continue;
        let visible = true;
        if (isTransactional(header.attributes)) {
          const txn = completed.find((c) => c.producerId === header.producerId && c.firstOffset <= header.baseOffset && header.baseOffset < c.lastOffset);
          assert.notEqual(txn, undefined, 'an open transaction is below the LSO');
          visible = txn !== undefined && !txn.aborted;
        }
        for (let offset = header.baseOffset; offset <= header.baseOffset + BigInt(header.lastOffsetDelta); offset++) if (visible && offset >= fetchOffset && offset < lso) expected.push(offset);
      }

      // Kafka's consumer: aborted transactions ordered by first offset; a producer is skipped from
      // its aborted transaction's first offset until its abort marker.
      const aborted = index.collectAbortedTransactions(fetchOffset, lso).abortedTransactions.sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
      abortedSeen += aborted.length;
      const abortedProducers = new Set<bigint>();
      const consumed: bigint[] = [];
      for (const { header, bytes } of fetched) {
        const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
        while (aborted.length > 0 && aborted[0]!.firstOffset <= lastOffset) abortedProducers.add(aborted.shift()!.producerId);
        if (isControl(header.attributes)) {
          if (readEndTxnMarker(bytes)?.type === 'abort') abortedProducers.delete(header.producerId);
          continue;
        }
        if (isTransactional(header.attributes) && abortedProducers.has(header.producerId)) continue;
        for (let offset = header.baseOffset; offset <= lastOffset; offset++) if (offset >= fetchOffset && offset < lso) consumed.push(offset);
      }
      await index.close();
      assert.deepEqual(consumed, expected);
    }),
    { numRuns: 150 },
  );
  t.true(abortedSeen > 50, `only ${abortedSeen} aborted transactions were fetched`);
});
