import test from 'ava';
import { InvalidConfigError } from '../src/errors.js';
import { UNLIMITED, defaultLogConfig, logConfigKeys, parseLogConfig } from '../src/log-config.js';

test('parseLogConfig maps Kafka names over the defaults', (t) => {
  const config = parseLogConfig({
    'segment.bytes': '1048576',
    'retention.ms': '-1',
    'retention.bytes': '5000000000',
    'cleanup.policy': 'compact, delete',
    'min.cleanable.dirty.ratio': '0.25',
    'message.timestamp.type': 'LogAppendTime',
    'flush.messages': '9223372036854775807',
    'compression.type': 'zstd',
  });
  t.is(config.segmentBytes, 1048576);
  t.is(config.retentionMs, -1);
  t.is(config.retentionBytes, 5_000_000_000);
  t.deepEqual(config.cleanupPolicy, ['compact', 'delete']);
  t.is(config.minCleanableDirtyRatio, 0.25);
  t.is(config.messageTimestampType, 'LogAppendTime');
  t.is(config.flushMessages, UNLIMITED);
  t.is(config.segmentMs, defaultLogConfig.segmentMs);
  t.is(logConfigKeys.get('file.delete.delay.ms'), 'fileDeleteDelayMs');
  t.is(logConfigKeys.size, 16);
});

test('parseLogConfig rejects bad values with an error naming the key', (t) => {
  const cases: Array<[string, string]> = [
    ['segment.bytes', '10'],
    ['segment.bytes', '4294967296'],
    ['retention.ms', '-2'],
    ['retention.ms', '1.5'],
    ['flush.messages', '0'],
    ['cleanup.policy', 'forever'],
    ['cleanup.policy', ''],
    ['min.cleanable.dirty.ratio', '1.5'],
    ['message.timestamp.type', 'WallClock'],
    ['max.message.bytes', '99999999999999999999'],
  ];
  for (const [key, value] of cases) {
    const error = t.throws(() => parseLogConfig({ [key]: value }), { instanceOf: InvalidConfigError });
    t.is(error?.key, key);
    t.is(error?.value, value);
    t.is(error?.kafkaErrorName, 'INVALID_CONFIG');
  }
});
