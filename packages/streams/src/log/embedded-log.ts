import { startBroker, type RunningBroker, type StartBrokerOptions } from '@defter/broker';
import type {
  ConsumerOptions,
  FetchedBatch,
  GroupConsumer,
  IsolationLevel,
  LogProducer,
  NewTopic,
  PartitionRange,
  ProducerOptions,
  ReadPartitionOptions,
  StreamLog,
  TopicPartition,
} from './stream-log.js';
import { createTopics, describeTopics, listTopics, type BrokerConnection } from './embedded/connection.js';
import { EmbeddedGroupConsumer } from './embedded/embedded-consumer.js';
import { EmbeddedProducer } from './embedded/embedded-producer.js';
import { negotiateVersions } from './embedded/protocol-versions.js';
import { offsetRange, readPartition } from './embedded/partition-reader.js';

/**
 * The embedded log: a broker in this process, reached without sockets.
 * - `{ dataDir }`: the log starts a broker on the directory (`listen: false`) in `connect()` and
 *   closes it in `close()`. The directory is locked: a broker of another process that holds it
 *   makes `connect()` fail (reach that broker with `{ brokers }` instead).
 * - `{ broker }`: a broker this process started (it may listen too), shared by several logs (apps);
 *   the log does not close it.
 */
export type EmbeddedLogOptions =
  | {
      readonly dataDir: string;
      /** Broker settings (the group initial rebalance delay defaults to 0: an embedded app should not wait 3 s to start). */
      readonly brokerOptions?: Omit<StartBrokerOptions, 'dataDir' | 'listen'>;
      readonly clientId?: string;
      /** The most record bytes one Produce request carries. */
      readonly produceRequestBytesMax?: number;
    }
  | {
      readonly broker: RunningBroker;
      readonly clientId?: string;
      readonly produceRequestBytesMax?: number;
    };

const PRODUCE_REQUEST_BYTES_MAX_DEFAULT = 512 * 1024;
const TRANSACTION_TIMEOUT_MS_DEFAULT = 60_000;

/**
 * `StreamLog` over the broker's in-process client: the same requests, validation and errors as
 * the wire, with no framing, encoding or sockets. Batches go end to end (a Fetch's stored batches
 * are decoded once into the runtime's records; a send becomes one batch per partition), and it
 * does what kafkajs cannot: `onRevoked` is awaited before the member rejoins, heartbeats run
 * during long batches, positions use OffsetFetch's requireStable, and TxnOffsetCommit carries the
 * generation and member id (KIP-447 fencing of a member that lost its partitions).
 */
export class EmbeddedLog implements StreamLog {
  readonly name = 'embedded';
  readonly awaitsRevocation = true;
  private broker: RunningBroker | undefined;
  private readonly ownsBroker: boolean;
  private connection: BrokerConnection | undefined;
  private connecting: Promise<void> | undefined;
  private readonly clients = new Set<{ close(): Promise<void> }>();
  private closed = false;

  constructor(private readonly options: EmbeddedLogOptions) {
    if ('broker' in options) {
      if (options.broker === undefined || typeof options.broker.client !== 'function') throw new TypeError('EmbeddedLog needs { broker } to be a RunningBroker of this process');
      this.broker = options.broker;
      this.ownsBroker = false;
    } else {
      if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) throw new RangeError('EmbeddedLog needs a dataDir');
      this.ownsBroker = true;
    }
  }

  /** The broker under this log (started by `connect()` when the log owns it). */
  get runningBroker(): RunningBroker | undefined {
    return this.broker;
  }

  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the embedded log is closed'));
    this.connecting ??= (async () => {
      if (this.broker === undefined && 'dataDir' in this.options) this.broker = await startOwnBroker(this.options.dataDir, this.options.brokerOptions);
      const broker = this.broker!;
      this.connection = { client: broker.client(this.options.clientId ?? 'defter-streams'), versions: negotiateVersions(broker.context.apiVersions()) };
    })();
    this.connecting.catch(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  async partitionCount(topic: string): Promise<number> {
    const [description] = await describeTopics(this.connected(), [topic]);
    return description!.partitions;
  }

  async topicsMatching(pattern: RegExp): Promise<string[]> {
    const matcher = new RegExp(pattern.source, pattern.flags.replace('g', '').replace('y', ''));
    return (await listTopics(this.connected()))
      .filter((topic) => !topic.internal && !topic.name.startsWith('__') && matcher.test(topic.name))
      .map((topic) => topic.name)
      .sort();
  }

  async createTopics(topics: readonly NewTopic[]): Promise<void> {
    await createTopics(this.connected(), topics);
  }

  createConsumer(options: ConsumerOptions): GroupConsumer {
    const consumer = new EmbeddedGroupConsumer(this.connected(), options);
    this.clients.add(consumer);
    return consumer;
  }

  async createProducer(options: ProducerOptions): Promise<LogProducer> {
    const producer = new EmbeddedProducer(this.connected(), {
      ...(options.transactionalId !== undefined ? { transactionalId: options.transactionalId } : {}),
      transactionTimeoutMs: options.transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS_DEFAULT,
      requestBytesMax: this.options.produceRequestBytesMax ?? PRODUCE_REQUEST_BYTES_MAX_DEFAULT,
    });
    await producer.init();
    this.clients.add(producer);
    return producer;
  }

  offsetRange(partition: TopicPartition, isolationLevel: IsolationLevel): Promise<PartitionRange> {
    return offsetRange(this.connected(), partition, isolationLevel);
  }

  readPartition(options: ReadPartitionOptions): AsyncIterable<FetchedBatch> {
    return readPartition(this.connected(), options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connecting?.catch(() => undefined);
    for (const client of this.clients) await client.close().catch(() => undefined);
    this.clients.clear();
    if (this.ownsBroker) await this.broker?.close();
  }

  private connected(): BrokerConnection {
    if (this.closed) throw new Error('the embedded log is closed');
    if (this.connection === undefined) throw new Error('the embedded log is not connected: call connect() first');
    return this.connection;
  }
}

async function startOwnBroker(dataDir: string, brokerOptions: Omit<StartBrokerOptions, 'dataDir' | 'listen'> = {}): Promise<RunningBroker> {
  try {
    return await startBroker({ groupInitialRebalanceDelayMs: 0, ...brokerOptions, dataDir, listen: false });
  } catch (error) {
    if (error instanceof Error && error.name === 'LogDirectoryLockedError') {
      throw new Error(`${error.message}; use --brokers / { brokers } to reach a running broker`, { cause: error });
    }
    throw error;
  }
}
