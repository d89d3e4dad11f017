/**
 * A broker in its own process, for tests that kill it: `node --import tsx --conditions=defter-source
 * broker-process.ts DATA_DIR PORT OPTIONS_JSON [TOPIC:PARTITIONS ...]`. OPTIONS_JSON holds
 * `StartBrokerOptions` (numbers, strings, booleans; `{}` for the defaults). Creates the topics that
 * do not exist yet, then prints one JSON line `{"port":N}` once it accepts connections; SIGTERM
 * closes it gracefully.
 */
import { startBroker, type StartBrokerOptions } from '../../src/index.js';

const [dataDir, portArgument, optionsJson, ...topicArguments] = process.argv.slice(2);
if (dataDir === undefined || portArgument === undefined || optionsJson === undefined) {
  process.stderr.write('usage: broker-process.ts DATA_DIR PORT OPTIONS_JSON [TOPIC:PARTITIONS ...]\n');
  process.exit(2);
}
const options = JSON.parse(optionsJson) as StartBrokerOptions;
const broker = await startBroker({ logLevel: process.env['DEFTER_LOG_LEVEL'] ?? 'warn', ...options, dataDir, port: Number(portArgument), host: '127.0.0.1' });
for (const topicArgument of topicArguments) {
  const [name, partitions] = topicArgument.split(':');
  if (broker.context.metadata.topic(name!) === undefined) await broker.context.metadata.createTopic(name!, Number(partitions ?? 1), {});
}
process.stdout.write(`${JSON.stringify({ port: broker.port })}\n`);
process.once('SIGTERM', () => {
  void broker.close().then(() => process.exit(0));
});
