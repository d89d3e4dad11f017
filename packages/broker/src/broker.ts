import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { LogManager, systemClock, type Clock, type LogConfig } from '@defter/log';
import { ApiRegistry } from './api/registry.js';
import { InProcessClient } from './api/in-process-client.js';
import { allHandlers } from './api/handlers.js';
import type { BrokerContext } from './broker-context.js';
import { defaultBrokerConfig, type BrokerConfig } from './config.js';
import { MetadataStore } from './metadata/metadata-store.js';
import { RequestProcessor } from './network/request-processor.js';
import { SocketServer } from './network/socket-server.js';
import { ReplicaManager } from './replica/replica-manager.js';
import { GroupCoordinator } from './group/group-coordinator.js';
import { OffsetStore } from './group/offset-store.js';
import { ProducerIdManager } from './txn/producer-id-manager.js';
import { TransactionCoordinator } from './txn/transaction-coordinator.js';
import { TransactionStateLog } from './txn/transaction-state-log.js';

export interface StartBrokerOptions extends Partial<Omit<BrokerConfig, 'log'>> {
  /** Topic-level defaults on top of Kafka's (`retentionMs`, `segmentBytes`, …). */
  log?: Partial<LogConfig>;
  clock?: Clock;
  /** A pino logger; by default one on stderr at `logLevel`. */
  logger?: Logger;
  /** Level of the default logger: quiet ('warn') unless asked. */
  logLevel?: string;
  /**
   * Whether to accept network connections (default true). An embedded broker that only its own
   * process uses (`client()`) can run without a listener.
   */
  listen?: boolean;
}

export interface RunningBroker {
  /** The address clients connect to. */
  readonly host: string;
  readonly port: number;
  readonly nodeId: number;
  readonly clusterId: string;
  readonly config: BrokerConfig;
  /** The components, for tests and embedding. */
  readonly context: BrokerContext;
  /** Whether the broker accepts network connections (see `StartBrokerOptions.listen`). */
  readonly listening: boolean;
  /** A client that sends requests to this broker's handlers inside this process, without sockets. */
  client(clientId: string): InProcessClient;
  /** Graceful shutdown: stop accepting, finish in-flight requests, flush and close every log. */
  close(): Promise<void>;
}

/** The wildcard addresses a listener may bind; clients are then told 127.0.0.1 unless advertised otherwise. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/**
 * Starts a broker on `dataDir` and resolves once it accepts connections. Many brokers can run in
 * one process (each on its own data directory).
 */
export async function startBroker(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const { log: logOverrides, clock = systemClock, logger: givenLogger, logLevel, listen = true, ...brokerOverrides } = options;
  const merged = { ...defaultBrokerConfig, ...withoutUndefined(brokerOverrides) };
  // message.max.bytes is the broker's name for the topics' default max.message.bytes: one value.
  const config: BrokerConfig = {
    ...merged,
    log: { ...defaultBrokerConfig.log, maxMessageBytes: merged.messageMaxBytes, ...logOverrides },
  };
  config.dataDir = resolve(config.dataDir);
  const logger = givenLogger ?? pino({ level: logLevel ?? 'warn', base: { nodeId: config.nodeId } }, pino.destination(2));

  const metadata = await MetadataStore.open({ dataDir: config.dataDir, config, clock, logger });
  const logManager = await LogManager.open({
    dataDir: config.dataDir,
    defaultConfig: config.log,
    configForTopic: (topic) => metadata.logConfigFor(topic),
    clock,
    logger,
    retentionCheckIntervalMs: config.logRetentionCheckIntervalMs,
    cleanerIntervalMs: config.logCleanerBackoffMs,
    producerIdExpirationMs: config.producerIdExpirationMs,
    producerIdExpirationCheckIntervalMs: config.producerIdExpirationCheckIntervalMs,
  });
  let replicaManager: ReplicaManager | undefined;
  let offsetStore: OffsetStore | undefined;
  let groupCoordinator: GroupCoordinator | undefined;
  let producerIds: ProducerIdManager | undefined;
  let transactionCoordinator: TransactionCoordinator | undefined;
  let server: SocketServer | undefined;
  try {
    await metadata.attach(logManager);
    replicaManager = new ReplicaManager({ logManager, metadata, config, clock, logger });
    offsetStore = await OffsetStore.open({ logManager, metadata, config, clock, logger });
    groupCoordinator = new GroupCoordinator({ config, clock, logger, offsets: offsetStore });
    const coordinator = groupCoordinator;
    // offsets.retention.minutes applies only to groups without members.
    offsetStore.startExpiry((groupId) => {
      const state = coordinator.groupState(groupId);
      return state === undefined || state === 'Empty' || state === 'Dead';
    });
    producerIds = await ProducerIdManager.open({ dataDir: config.dataDir });
    transactionCoordinator = await TransactionCoordinator.open({
      config,
      clock,
      logger,
      stateLog: new TransactionStateLog({ logManager, metadata, config, clock, logger }),
      producerIds,
      markers: replicaManager,
      offsets: offsetStore,
    });
    replicaManager.setTransactionVerifier(transactionCoordinator);
    const registry = new ApiRegistry(allHandlers);
    let listener: { host: string; port: number } | undefined;
    const context: BrokerContext = {
      config,
      clock,
      logger,
      logManager,
      metadata,
      replicaManager,
      groupCoordinator,
      offsetStore,
      transactionCoordinator,
      advertisedListener: () => {
        if (listener === undefined) throw new Error('the listener is not bound yet');
        return listener;
      },
      apiVersions: () => registry.apiVersions(),
    };
    if (listen) {
      server = await SocketServer.listen(new RequestProcessor(registry, context), {
        host: config.host,
        port: config.port,
        frameBytesMax: config.socketRequestMaxBytes,
        queuedRequestsMax: config.queuedMaxRequests,
        connectionsMaxIdleMs: config.connectionsMaxIdleMs,
        clock,
        logger,
      });
    }
    // Without a listener, Metadata and FindCoordinator still answer: with the advertised address
    // if one is configured, else port 0, which no client can mistake for a live listener.
    listener = {
      host: config.advertisedHost ?? (WILDCARD_HOSTS.has(config.host) ? '127.0.0.1' : config.host),
      port: config.advertisedPort ?? server?.address().port ?? 0,
    };
    logger.info({ ...listener, listening: listen, dataDir: config.dataDir, clusterId: metadata.clusterId }, 'broker started');

    const runningServer = server;
    const runningReplicaManager = replicaManager;
    const runningGroupCoordinator = groupCoordinator;
    const runningOffsetStore = offsetStore;
    const runningProducerIds = producerIds;
    const runningTransactionCoordinator = transactionCoordinator;
    let closing: Promise<void> | undefined;
    return {
      host: listener.host,
      port: listener.port,
      nodeId: config.nodeId,
      clusterId: metadata.clusterId,
      config,
      context,
      listening: listen,
      client: (clientId) => new InProcessClient(registry, context, clientId),
      close: () => {
        closing ??= (async () => {
          // Waiting fetches and joins are answered first, so that no long poll holds up the drain.
          await runningReplicaManager.close();
          await runningGroupCoordinator.close();
          await runningServer?.close(config.shutdownTimeoutMs);
          // Markers under way are written before the logs close; a restart finishes the rest.
          await runningTransactionCoordinator.close();
          await runningProducerIds.close();
          await runningOffsetStore.close();
          await logManager.close();
          await metadata.close();
          logger.info({ dataDir: config.dataDir }, 'broker stopped');
        })();
        return closing;
      },
    };
  } catch (error) {
    await server?.close(0);
    await groupCoordinator?.close();
    await transactionCoordinator?.close();
    await producerIds?.close();
    await offsetStore?.close();
    await replicaManager?.close();
    await logManager.close();
    await metadata.close();
    throw error;
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
