import test from 'ava';
import { KafkajsLog } from '../src/index.js';
import { registerLogContract, startCluster } from './log-contract.js';

registerLogContract(
  test,
  'kafkajs',
  async (t) => {
    const cluster = await startCluster(t);
    return { broker: cluster.broker, newLog: () => new KafkajsLog({ brokers: [cluster.bootstrap], clientId: 'contract' }) };
  },
  // kafkajs has no revocation hook, idles fetchMaxWaitMs while every partition is paused, and sends TxnOffsetCommit without a generation.
  { awaitsRevocation: false, promptResume: false, fencesByGeneration: false, stablePositions: false },
);
