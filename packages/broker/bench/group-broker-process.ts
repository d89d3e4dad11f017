/**
 * The broker of the consumer-group benchmark, in its own process: like broker-process.ts, with the
 * group settings the benchmark needs (no initial rebalance delay, a low minimum session timeout).
 * `node group-broker-process.js DATA_DIR MIN_SESSION_TIMEOUT_MS TOPIC:PARTITIONS ...`; prints
 * `{"port":N}` once it listens, and closes gracefully on SIGTERM.
 */
import { startBroker } from '../src/index.js';

const [dataDir, minSessionTimeoutMs, ...topicArguments] = process.argv.slice(2);
if (dataDir === undefined || minSessionTimeoutMs === undefined) {
  process.stderr.write('usage: group-broker-process.js DATA_DIR MIN_SESSION_TIMEOUT_MS TOPIC:PARTITIONS ...\n');
  process.exit(2);
}
const broker = await startBroker({
  dataDir,
  port: 0,
  host: '127.0.0.1',
  logLevel: 'warn',
  groupInitialRebalanceDelayMs: 0,
  groupMinSessionTimeoutMs: Number(minSessionTimeoutMs),
});
for (const topicArgument of topicArguments) {
  const [name, partitions] = topicArgument.split(':');
  await broker.context.metadata.createTopic(name!, Number(partitions ?? 1), {});
}
process.stdout.write(`${JSON.stringify({ port: broker.port })}\n`);
process.once('SIGTERM', () => {
  void broker.close().then(() => process.exit(0));
});
