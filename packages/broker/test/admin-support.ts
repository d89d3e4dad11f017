import type { ExecutionContext } from 'ava';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { RawClient } from './helpers/raw-client.js';
import { startTestBroker, type TestBroker } from './helpers/test-broker.js';
import type { StartBrokerOptions } from '../src/index.js';

/** A broker on a temporary directory with a connected kafkajs admin and a raw client (all closed at teardown). */
export async function adminBroker(
  t: ExecutionContext,
  options: StartBrokerOptions & { dataDir?: string } = {},
): Promise<TestBroker & { admin: Admin; client: RawClient }> {
  const test = await startTestBroker(t, options);
  const admin = await connectAdmin(t, test.bootstrap);
  const client = await RawClient.connect(test.port);
  t.teardown(() => client.close());
  return { ...test, admin, client };
}

export async function connectAdmin(t: ExecutionContext, bootstrap: string): Promise<Admin> {
  const kafka = new Kafka({ clientId: 'admin-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  return admin;
}

/** Rejections of kafkajs calls, as the error's `type` (Kafka error name) or message. */
export async function kafkajsErrorOf(promise: Promise<unknown>): Promise<{ type: string | undefined; message: string }> {
  try {
    await promise;
  } catch (error) {
    const failure = error as { type?: string; message: string; errors?: Array<{ type?: string; message: string }> };
    const inner = failure.errors?.[0];
    return { type: failure.type ?? inner?.type, message: inner?.message ?? failure.message };
  }
  throw new Error('expected the call to fail');
}
