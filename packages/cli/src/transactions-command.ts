import { ClusterClient } from './cluster-client.js';
import type { CliIo } from './io.js';
import { nearest } from './suggest.js';
import {
  TRANSACTION_STATE_NAMES,
  TransactionClient,
  UnknownTransactionStateError,
  UnknownTransactionalIdError,
  type ListTransactionsFilter,
  type ProducerOfPartition,
  type TransactionDescription,
  type TransactionListing,
} from './transaction-client.js';

/**
 * `defter transactions list|describe|producers`: what kafka-transactions.sh shows — which
 * transactional ids exist and in which state, what one transaction holds, and which producer
 * keeps a partition's last stable offset back.
 */

export interface TransactionsContext {
  bootstrapServer: string;
  io: CliIo;
  /** The clock durations are measured against (tests pin it). */
  nowMs?: () => number;
}

/** States in which a transaction is running: only these have a meaningful duration. */
const OPEN_STATES: ReadonlySet<string> = new Set(['Ongoing', 'PrepareCommit', 'PrepareAbort', 'PrepareEpochFence']);

export const LIST_HEADER = 'TRANSACTIONAL-ID\tPRODUCER-ID\tSTATE';
export const DESCRIBE_HEADER = 'TRANSACTIONAL-ID\tPRODUCER-ID\tPRODUCER-EPOCH\tSTATE\tTIMEOUT-MS\tSTART-TIME\tDURATION-MS\tPARTITIONS';
export const PRODUCERS_HEADER = 'PARTITION\tPRODUCER-ID\tPRODUCER-EPOCH\tLAST-SEQUENCE\tLAST-TIMESTAMP\tCOORDINATOR-EPOCH\tTXN-START-OFFSET';

/** The rows of `transactions list`, header first. */
export function formatTransactionList(listings: readonly TransactionListing[]): string[] {
  return [LIST_HEADER, ...listings.map((listing) => `${listing.transactionalId}\t${listing.producerId}\t${listing.state}`)];
}

/**
 * The rows of `transactions describe`, header first: start time in ISO 8601 (UTC), the duration
 * only while the transaction runs, partitions as `topic-partition` joined by commas.
 */
export function formatTransactionDescriptions(descriptions: readonly TransactionDescription[], nowMs: number): string[] {
  return [
    DESCRIBE_HEADER,
    ...descriptions.map((description) => {
      const start = description.transactionStartTimeMs;
      const running = start !== null && OPEN_STATES.has(description.state);
      const partitions = description.topics.flatMap(({ topic, partitions: indexes }) => indexes.map((partition) => `${topic}-${partition}`));
      return [
        description.transactionalId,
        description.producerId,
        description.producerEpoch,
        description.state,
        description.transactionTimeoutMs,
        start === null ? '-' : isoTime(start),
        running ? Math.max(0, nowMs - Number(start)) : '-',
        partitions.length === 0 ? '-' : partitions.join(','),
      ].join('\t');
    }),
  ];
}

/** The rows of `transactions producers`, header first. */
export function formatProducers(producers: readonly ProducerOfPartition[]): string[] {
  return [
    PRODUCERS_HEADER,
    ...producers.map((producer) =>
      [
        producer.partition,
        producer.producerId,
        producer.producerEpoch,
        producer.lastSequence,
        producer.lastTimestampMs === null ? '-' : isoTime(producer.lastTimestampMs),
        producer.coordinatorEpoch,
        producer.currentTxnStartOffset ?? '-',
      ].join('\t'),
    ),
  ];
}

/** One sentence for ids no coordinator knows, with the nearest existing id when there is one (and one id was asked). */
export function unknownTransactionalIdMessage(unknown: readonly string[], existing: readonly string[]): string {
  if (unknown.length > 1) return `transactional ids ${unknown.map((id) => `'${id}'`).join(', ')} do not exist.`;
  const transactionalId = unknown[0] ?? '';
  const suggestion = nearest(transactionalId, existing);
  if (suggestion !== undefined) return `transactional id '${transactionalId}' does not exist. Did you mean '${suggestion}'?`;
  if (existing.length === 0) return `transactional id '${transactionalId}' does not exist (the cluster has no transactional ids).`;
  return `transactional id '${transactionalId}' does not exist.`;
}

/** One sentence for state filters no state is called, with the nearest state name. */
export function unknownStateMessage(states: readonly string[]): string {
  const state = states[0] ?? '';
  const suggestion = nearest(state, TRANSACTION_STATE_NAMES);
  return (
    `unknown transaction state '${state}'.` +
    (suggestion === undefined ? ` States: ${TRANSACTION_STATE_NAMES.join(', ')}.` : ` Did you mean '${suggestion}'?`)
  );
}

/** `--state Ongoing --state PrepareCommit` or `--state Ongoing,PrepareCommit`. */
export function parseStateFilters(values: readonly string[]): string[] {
  return [...new Set(values.flatMap((value) => value.split(',')).map((state) => state.trim()).filter((state) => state.length > 0))];
}

async function withTransactionClient<T>(context: TransactionsContext, work: (transactions: TransactionClient, cluster: ClusterClient) => Promise<T>): Promise<T> {
  const cluster = await ClusterClient.connect(context.bootstrapServer);
  try {
    return await work(new TransactionClient(cluster), cluster);
  } finally {
    await cluster.close();
  }
}

export async function listTransactions(context: TransactionsContext, filter: ListTransactionsFilter): Promise<void> {
  await withTransactionClient(context, async (transactions) => {
    let listings: TransactionListing[];
    try {
      listings = await transactions.listTransactions(filter);
    } catch (error) {
      if (error instanceof UnknownTransactionStateError) throw new Error(unknownStateMessage(error.states));
      throw error;
    }
    for (const line of formatTransactionList(listings)) context.io.out(line);
  });
}

export async function describeTransactions(context: TransactionsContext, transactionalIds: readonly string[]): Promise<void> {
  await withTransactionClient(context, async (transactions) => {
    let descriptions: TransactionDescription[];
    try {
      descriptions = await transactions.describeTransactions(transactionalIds);
    } catch (error) {
      if (!(error instanceof UnknownTransactionalIdError)) throw error;
      const existing = (await transactions.listTransactions({ states: [], producerIds: [] })).map((listing) => listing.transactionalId);
      throw new Error(unknownTransactionalIdMessage(error.transactionalIds, existing));
    }
    const nowMs = (context.nowMs ?? Date.now)();
    for (const line of formatTransactionDescriptions(descriptions, nowMs)) context.io.out(line);
  });
}

export async function describeProducers(context: TransactionsContext, topic: string, partition: number | undefined): Promise<void> {
  await withTransactionClient(context, async (transactions, cluster) => {
    const info = await cluster.topic(topic);
    const partitions = partition === undefined ? info.partitions.map((candidate) => candidate.partition) : [partition];
    for (const line of formatProducers(await transactions.describeProducers(info, partitions))) context.io.out(line);
  });
}

function isoTime(ms: bigint): string {
  const date = new Date(Number(ms));
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}
