/** kafka-python 2.0 consumer groups against the broker: two members share a topic and read every record once. */
import test from 'ava';
import { pythonWith } from './helpers/processes.js';
import { runPythonGroup } from './helpers/python-group.js';

const kafkaPython = pythonWith('kafka');

(kafkaPython === undefined ? test.skip : test)('kafka-python: a group of two reads every record once with clean commits', async (t) => {
  await runPythonGroup(t, kafkaPython!, 'kafka_python_group.py', { topic: 'kpy-group', partitions: 4, count: 400 });
});
