/**
 * The benchmarked broker, in its own process so that it does not share an event loop with the
 * clients: `node broker-process.js DATA_DIR TOPIC:PARTITIONS ...`. Creates the topics, prints
 * `{"port":N}` once it listens, and closes gracefully on SIGTERM.
 */
import { startBroker } from '../src/index.js';

const [dataDir, ...topicArguments] = process.argv.slice(2);
if (dataDir === undefined) {
  process.stderr.write('usage: broker-process.js DATA_DIR TOPIC:PARTITIONS ...\n');
  process.exit(2);
}
const broker = await startBroker({ dataDir, port: 0, host: '127.0.0.1', logLevel: 'warn' });
for (const topicArgument of topicArguments) {
  const [name, partitions] = topicArgument.split(':');
  await broker.context.metadata.createTopic(name!, Number(partitions ?? 1), {});
}
process.stdout.write(`${JSON.stringify({ port: broker.port })}\n`);
process.once('SIGTERM', () => {
  void broker.close().then(() => process.exit(0));
});
