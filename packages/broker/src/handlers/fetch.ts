import { ApiKey, ErrorCode, type FetchResponsePartitionData } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { IsolationLevel, type FetchPartition, type FetchPartitionResult } from '../replica/replica-manager.js';

/** First Fetch version that names topics by id (KIP-516). */
const VERSION_TOPIC_IDS = 13;
/** Session epochs (KIP-227): -1 = a full fetch outside any session, 0 = a full fetch asking for a new session. */
const FINAL_EPOCH = -1;
const INITIAL_EPOCH = 0;
/** The session id of "no session". */
const NO_SESSION_ID = 0;

/**
 * Fetch v4-16 (v4 is the first that carries magic-2 batches as they are stored, with the last
 * stable offset and aborted transactions; flexible from v12, topic ids from v13).
 *
 * Fetch sessions: this broker keeps none. A full fetch (epoch -1 or 0) is served and answered
 * with session id 0, which tells a client that asked for a session (epoch 0) that none was
 * created, as Kafka does when its session cache is full; the client keeps sending full fetches.
 * An incremental fetch (epoch > 0) names a session we cannot know: FETCH_SESSION_ID_NOT_FOUND.
 */
export const fetchHandler = defineHandler({
  apiKey: ApiKey.Fetch,
  minVersion: 4,
  maxVersion: 16,
  async handle(request, context) {
    const { replicaManager, metadata } = context.broker;
    const version = context.header.apiVersion;
    const sessionEpoch = request.sessionEpoch ?? FINAL_EPOCH;
    if (sessionEpoch !== FINAL_EPOCH && sessionEpoch !== INITIAL_EPOCH) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND, sessionId: NO_SESSION_ID, responses: [] };
    }
    const byTopicId = version >= VERSION_TOPIC_IDS;

    // Resolve topic names (v13+ carry ids); a partition of an unknown id is answered here.
    const reads: FetchPartition[] = [];
    const plan = request.topics.map((topic) => {
      const name = byTopicId ? metadata.topicById(topic.topicId ?? '')?.name : topic.topic;
      return {
        topic,
        partitions: topic.partitions.map((partition) => {
          if (name === undefined) return { partition, readIndex: -1 };
          reads.push({ topic: name, partition: partition.partition, fetchOffset: partition.fetchOffset, partitionMaxBytes: partition.partitionMaxBytes });
          return { partition, readIndex: reads.length - 1 };
        }),
      };
    });
    const unresolved = reads.length < plan.reduce((count, topic) => count + topic.partitions.length, 0);
    const results = await replicaManager.fetch({
      // An unknown topic id is an error, and errors are answered without waiting.
      maxWaitMs: unresolved ? 0 : request.maxWaitMs,
      minBytes: request.minBytes,
      maxBytes: request.maxBytes ?? Number.MAX_SAFE_INTEGER,
      isolationLevel: request.isolationLevel ?? IsolationLevel.READ_UNCOMMITTED,
      partitions: reads,
    });

    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      sessionId: NO_SESSION_ID,
      responses: plan.map(({ topic, partitions }) => ({
        ...(byTopicId ? { topicId: topic.topicId! } : { topic: topic.topic! }),
        partitions: partitions.map(({ partition, readIndex }) =>
          partitionData(partition.partition, readIndex < 0 ? unknownTopicId() : results[readIndex]!),
        ),
      })),
    };
  },
});

function partitionData(partitionIndex: number, result: FetchPartitionResult): FetchResponsePartitionData {
  return {
    partitionIndex,
    errorCode: result.errorCode,
    highWatermark: result.highWatermark,
    lastStableOffset: result.lastStableOffset,
    logStartOffset: result.logStartOffset,
    abortedTransactions: result.abortedTransactions,
    preferredReadReplica: -1,
    records: result.records,
  };
}

function unknownTopicId(): FetchPartitionResult {
  return {
    errorCode: ErrorCode.UNKNOWN_TOPIC_ID,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    abortedTransactions: null,
    records: Buffer.alloc(0),
  };
}
