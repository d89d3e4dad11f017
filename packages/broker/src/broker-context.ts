import type { Clock, LogManager } from '@defter/log';
import type { ApiVersionsResponseApiVersion } from '@defter/protocol';
import type { Logger } from 'pino';
import type { BrokerConfig } from './config.js';
import type { MetadataStore } from './metadata/metadata-store.js';
import type { ReplicaManager } from './replica/replica-manager.js';
import type { GroupCoordinator } from './group/group-coordinator.js';
import type { OffsetStore } from './group/offset-store.js';
import type { TransactionCoordinator } from './txn/transaction-coordinator.js';

/** The broker's components, as handlers see them. */
export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly logManager: LogManager;
  readonly metadata: MetadataStore;
  readonly replicaManager: ReplicaManager;
  /** Consumer group membership and rebalances (FindCoordinator, JoinGroup, SyncGroup, …). */
  readonly groupCoordinator: GroupCoordinator;
  /** Committed offsets, kept in `__consumer_offsets`. */
  readonly offsetStore: OffsetStore;
  /** Producer ids and transactions (InitProducerId, AddPartitionsToTxn, EndTxn, …), kept in `__transaction_state`. */
  readonly transactionCoordinator: TransactionCoordinator;
  /** The host and port clients are told to connect to (known once the listener is bound). */
  readonly advertisedListener: () => { host: string; port: number };
  /** The served APIs and version ranges, as ApiVersions advertises them. */
  readonly apiVersions: () => ApiVersionsResponseApiVersion[];
}
