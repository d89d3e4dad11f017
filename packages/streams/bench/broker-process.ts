/**
 * The broker of the network rows, in its own process so that it does not share an event loop (or
 * a CPU count) with the clients: `node broker-process.js DATA_DIR`. Serves the data directory the
 * bench prepared, prints `{"port":N}` once it listens, and closes gracefully on SIGTERM.
 */
import { startBroker } from '@defter/broker';
import { BENCH_BROKER_SETTINGS } from './bench-broker.js';

const [dataDir] = process.argv.slice(2);
if (dataDir === undefined) {
  process.stderr.write('usage: broker-process.js DATA_DIR\n');
  process.exit(2);
}
const broker = await startBroker({ dataDir, port: 0, host: '127.0.0.1', ...BENCH_BROKER_SETTINGS });
process.stdout.write(`${JSON.stringify({ port: broker.port })}\n`);
process.once('SIGTERM', () => {
  void broker.close().then(() => process.exit(0));
});
