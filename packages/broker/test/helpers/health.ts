import { ApiKey, ErrorCode } from '@defter/protocol';
import type { ExecutionContext } from 'ava';
import { RawClient } from './raw-client.js';
import { hasCommand, kcatArgs, runProcess } from './processes.js';
import { LogLevel, type TestBroker } from './test-broker.js';

/**
 * The check after every piece of hostile input: a new connection gets a full ApiVersions answer,
 * a connection opened before still answers on the same socket, kcat can list metadata (once the
 * broker serves Metadata), and nothing was logged at error level (a handler that throws is a bug).
 */
export async function assertBrokerHealthy(t: ExecutionContext, broker: TestBroker, bystander: RawClient): Promise<void> {
  const fresh = await RawClient.connect(broker.port);
  try {
    const response = await fresh.apiVersions();
    t.is(response.errorCode, ErrorCode.NONE, 'a new connection gets ApiVersions');
    t.true(response.apiKeys.some((key) => key.apiKey === ApiKey.ApiVersions));
  } finally {
    fresh.close();
  }
  t.false(bystander.isClosed, 'the connection opened before is still open');
  const bystanderResponse = await bystander.apiVersions(0);
  t.is(bystanderResponse.errorCode, ErrorCode.NONE, 'the connection opened before still answers');

  if (servesMetadata(bystanderResponse.apiKeys) && hasCommand('kcat')) {
    const listing = await runProcess(t, 'kcat', kcatArgs(broker.bootstrap, '-L', '-m', '10'), { timeoutMs: 20_000 });
    t.is(listing.code, 0, `kcat -L exits cleanly: ${listing.stderr}`);
    t.regex(listing.stdout, /1 brokers:/, 'kcat lists the broker');
  }
  const errors = broker.logs.lines.filter((line) => line.level >= LogLevel.error);
  t.deepEqual(errors, [], 'nothing was logged at error level');
}

export function servesMetadata(apiKeys: ReadonlyArray<{ apiKey: number }>): boolean {
  return apiKeys.some((key) => key.apiKey === ApiKey.Metadata);
}
