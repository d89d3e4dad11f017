import { pino, type Logger } from 'pino';
import { LogManager, ManualScheduler, type ManualClock } from '@defter/log';
import { defaultBrokerConfig, type BrokerConfig } from '../../src/config.js';
import { MetadataStore } from '../../src/metadata/metadata-store.js';

/** A broker's metadata and logs on a data directory, wired as startBroker wires them, with no network and no coordinators. */
export interface Storage {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly metadata: MetadataStore;
  readonly logManager: LogManager;
  /** Closes the logs, then the metadata. */
  close(): Promise<void>;
}

/** Opens the storage of `dataDir` with a manual scheduler (nothing runs in the background) and a silent logger. */
export async function openStorage(dataDir: string, clock: ManualClock, overrides: Partial<BrokerConfig> = {}): Promise<Storage> {
  const config: BrokerConfig = { ...defaultBrokerConfig, ...overrides, dataDir, log: { ...defaultBrokerConfig.log } };
  const logger = pino({ level: 'silent' });
  const metadata = await MetadataStore.open({ dataDir, config, clock, logger });
  const logManager = await LogManager.open({
    dataDir,
    defaultConfig: config.log,
    configForTopic: (topic) => metadata.logConfigFor(topic),
    clock,
    logger,
    scheduler: new ManualScheduler(clock),
  });
  await metadata.attach(logManager);
  return {
    config,
    logger,
    metadata,
    logManager,
    close: async () => {
      await logManager.close();
      await metadata.close();
    },
  };
}
