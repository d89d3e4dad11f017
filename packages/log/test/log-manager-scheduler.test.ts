import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../src/clock.js';
import { RecordingLogger } from '../src/logger.js';
import { ManualScheduler, TimerScheduler } from '../src/scheduler.js';

test('ManualScheduler runs tasks when due, in order of due time, and again one interval later', async (t) => {
  const clock = new ManualClock(1_000);
  const scheduler = new ManualScheduler(clock);
  const ran: string[] = [];
  scheduler.schedule('slow', 300, () => {
    ran.push('slow');
  });
  scheduler.schedule('fast', 100, async () => {
    ran.push('fast');
  });
  t.deepEqual(await scheduler.runDue(1_099), []);
  t.deepEqual(await scheduler.runDue(1_100), ['fast']);
  t.deepEqual(await scheduler.runDue(1_150), []);
  t.deepEqual(await scheduler.runDue(1_300), ['fast', 'slow']);
  t.deepEqual(await scheduler.runDue(1_400), ['fast']);
  t.deepEqual(ran, ['fast', 'fast', 'slow', 'fast']);
  t.deepEqual(await scheduler.runAll(), ['slow', 'fast']);
  clock.set(5_000);
  t.deepEqual(await scheduler.runDue(), ['fast', 'slow'], 'the clock gives the default time');
});

test('ManualScheduler logs and records a failing task and keeps the others running', async (t) => {
  const logger = new RecordingLogger();
  const scheduler = new ManualScheduler(new ManualClock(0), logger);
  const boom = new Error('boom');
  let healthyRuns = 0;
  scheduler.schedule('broken', 10, () => {
    throw boom;
  });
  scheduler.schedule('healthy', 10, () => {
    healthyRuns++;
  });
  t.deepEqual(await scheduler.runDue(10), ['broken', 'healthy']);
  t.is(healthyRuns, 1);
  t.deepEqual(scheduler.failures, [{ name: 'broken', error: boom }]);
  t.deepEqual(
    logger.lines.map((line) => [line.level, line.msg]),
    [['error', 'scheduled task broken failed']],
  );
  t.throws(() => scheduler.schedule('healthy', 10, () => {}), { message: 'task healthy is already scheduled' });
  t.throws(() => scheduler.schedule('zero', 0, () => {}), { instanceOf: RangeError });
  await scheduler.cancelAll();
  t.deepEqual(await scheduler.runAll(), []);
  t.throws(() => scheduler.schedule('late', 10, () => {}));
});

test('TimerScheduler repeats a task, never overlaps its runs, logs errors, and cancelAll waits for a running task', async (t) => {
  const logger = new RecordingLogger();
  const scheduler = new TimerScheduler(logger);
  let running = 0;
  let runningMax = 0;
  let runs = 0;
  let finished = 0;
  scheduler.schedule('overlong', 2, async () => {
    running++;
    runningMax = Math.max(runningMax, running);
    runs++;
    await sleep(15);
    running--;
    finished++;
    if (runs === 2) throw new Error('second run fails');
  });
  // Wait for three runs rather than a fixed time: a loaded machine delays timers.
  for (let waitedMs = 0; runs < 3 && waitedMs < 5_000; waitedMs += 10) await sleep(10);
  t.true(runs >= 3, `ran ${runs} times`);
  t.is(runningMax, 1);
  t.true(logger.lines.some((line) => line.level === 'error' && line.msg === 'scheduled task overlong failed'));
  await scheduler.cancelAll();
  t.is(running, 0, 'cancelAll resolved after the run in progress ended');
  const runsAtCancel = runs;
  await sleep(30);
  t.is(runs, runsAtCancel);
  t.is(finished, runs);
});
