/**
 * exactly_once under crashes: the `spans` pipeline (mapValues, an asynchronous concatMap,
 * bufferCount and a mergeMap to a Promise) in a child process with a stable instance id is
 * SIGKILLed at seeded random moments while its input is fed, restarted each time, and finally run
 * to completion. Read with read_committed, the output holds every input record exactly once, correctly
 * transformed; the read_uncommitted view shows that kills did catch transactions with outputs in them.
 */
import test from 'ava';
import { checkOutput, expectedOutputValue, runKillScenario } from './fault-support.js';

const KILLS = 8;

test('exactly_once, SIGKILLed at random moments 8 times: every input in the committed output exactly once', async (t) => {
  t.timeout(240_000);
  const result = await runKillScenario(t, { processingGuarantee: 'exactly_once', applicationId: 'faults-eos', kills: KILLS, commitIntervalMs: 100 });
  const committed = checkOutput(result.committed, result.total, expectedOutputValue);
  t.deepEqual(committed.missing.slice(0, 20), [], 'no input missing from the committed output');
  t.is(committed.duplicates, 0, 'no input twice in the committed output');
  t.deepEqual(committed.wrong, [], 'every output value is its input transformed');
  t.is(result.committed.length, result.total);

  // Not vacuous: the kills left aborted outputs behind (records of transactions that were open).
  const uncommitted = checkOutput(result.uncommitted, result.total, expectedOutputValue);
  t.log(`${result.uncommitted.length - result.total} output records of killed transactions in the log (read_uncommitted); ${result.killsWithRecordsInFlight} kills with records in flight`);
  t.deepEqual(uncommitted.wrong, []);
  t.true(uncommitted.duplicates > 0, 'some kills caught a transaction with outputs in it');
  t.true(result.killsWithRecordsInFlight >= 1, 'some kills caught records processed and not committed');
  t.is(result.selfExits, 0, 'no instance failed by itself');
});
