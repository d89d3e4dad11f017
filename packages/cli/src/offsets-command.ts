import { ClusterClient } from './cluster-client.js';
import type { CliIo } from './io.js';
import { partitionsToRead } from './partition-option.js';

/** `defter offsets TOPIC`: the earliest (log start) and latest (high watermark) offset per partition. */
export async function printOffsets(topic: string, options: { bootstrapServer: string; io: CliIo; partition?: number }): Promise<void> {
  const client = await ClusterClient.connect(options.bootstrapServer);
  try {
    const info = await client.topic(topic);
    const partitions = partitionsToRead(info, options.partition);
    options.io.out('PARTITION\tEARLIEST\tLATEST');
    for (const { partition, earliest, latest } of await client.partitionOffsets(info, partitions)) {
      options.io.out(`${partition}\t${earliest}\t${latest}`);
    }
  } finally {
    await client.close();
  }
}
