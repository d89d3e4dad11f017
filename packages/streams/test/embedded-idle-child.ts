/**
 * A child process for the liveness test: an app on the embedded log whose input stays empty, and
 * nothing else in the process. Prints `running` once assigned.
 * Usage: embedded-idle-child.ts <dataDir>
 */
import { app, EmbeddedLog, Serdes } from '../src/index.js';

const [dataDir] = process.argv.slice(2);
const setup = new EmbeddedLog({ dataDir: dataDir! });
await setup.connect();
await setup.createTopics([{ name: 'idle-in', partitions: 1 }, { name: 'idle-out', partitions: 1 }]);
await setup.close();

const idle = app({ applicationId: 'idle', log: { dataDir: dataDir! } });
idle.stream('idle-in', { key: Serdes.string(), value: Serdes.string() }).to('idle-out', { key: Serdes.string(), value: Serdes.string() });
await idle.start();
process.stdout.write('running\n');
