/**
 * at_least_once under crashes: the same harness as the exactly-once kill test (the `spans`
 * pipeline SIGKILLed at seeded random moments while its input is fed), with at_least_once and a
 * short commit interval. Nothing may be lost; records processed again after a kill appear twice,
 * which is counted and logged.
 */
import test from 'ava';
import { checkOutput, expectedOutputValue, runKillScenario } from './fault-support.js';

const KILLS = 8;

test('at_least_once, SIGKILLed at random moments 8 times: no input missing from the output', async (t) => {
  t.timeout(240_000);
  const result = await runKillScenario(t, { processingGuarantee: 'at_least_once', applicationId: 'faults-alo', kills: KILLS, commitIntervalMs: 200 });
  const check = checkOutput(result.committed, result.total, expectedOutputValue);
  t.log(`${check.duplicates} duplicate output records over ${check.duplicatedIds} input ids; ${result.killsWithRecordsInFlight} kills with records in flight`);
  t.deepEqual(check.missing.slice(0, 20), [], 'no input missing from the output');
  t.is(check.missing.length, 0);
  t.deepEqual(check.wrong, [], 'every output value is its input transformed');
  t.is(result.committed.length, result.total + check.duplicates);
  t.true(result.killsWithRecordsInFlight >= 1, 'some kills caught records processed and not committed');
  t.is(result.selfExits, 0, 'no instance failed by itself');
});
