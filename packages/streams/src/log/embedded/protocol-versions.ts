import { ApiKey, type ApiVersionsResponseApiVersion } from '@defter/protocol';

/**
 * The API versions the embedded log speaks to the in-process broker. Fetch and Produce take the
 * newest version the broker serves within the range this code understands (the hot path should
 * get the broker's newest behaviour); the others are the one version this code is written for.
 *
 * Transactions use the transaction-version-1 requests (AddPartitionsToTxn v3, EndTxn v4): EndTxn v5
 * would bump the producer epoch at every transaction end, which only pays off together with
 * Produce v12's implicit partition adds, which the broker does not serve.
 */
const RANGES = {
  fetch: { apiKey: ApiKey.Fetch, min: 12, max: 16 },
  produce: { apiKey: ApiKey.Produce, min: 9, max: 11 },
  listOffsets: { apiKey: ApiKey.ListOffsets, min: 8, max: 8 },
  metadata: { apiKey: ApiKey.Metadata, min: 12, max: 12 },
  createTopics: { apiKey: ApiKey.CreateTopics, min: 7, max: 7 },
  joinGroup: { apiKey: ApiKey.JoinGroup, min: 9, max: 9 },
  syncGroup: { apiKey: ApiKey.SyncGroup, min: 5, max: 5 },
  heartbeat: { apiKey: ApiKey.Heartbeat, min: 4, max: 4 },
  leaveGroup: { apiKey: ApiKey.LeaveGroup, min: 5, max: 5 },
  offsetFetch: { apiKey: ApiKey.OffsetFetch, min: 9, max: 9 },
  offsetCommit: { apiKey: ApiKey.OffsetCommit, min: 9, max: 9 },
  initProducerId: { apiKey: ApiKey.InitProducerId, min: 5, max: 5 },
  addPartitionsToTxn: { apiKey: ApiKey.AddPartitionsToTxn, min: 3, max: 3 },
  addOffsetsToTxn: { apiKey: ApiKey.AddOffsetsToTxn, min: 4, max: 4 },
  txnOffsetCommit: { apiKey: ApiKey.TxnOffsetCommit, min: 4, max: 4 },
  endTxn: { apiKey: ApiKey.EndTxn, min: 4, max: 4 },
} as const;

export type ProtocolVersions = { readonly [Name in keyof typeof RANGES]: number };

/** Picks each API's version from what the broker serves; a broker too old for this code is a clear error. */
export function negotiateVersions(served: readonly ApiVersionsResponseApiVersion[]): ProtocolVersions {
  const byKey = new Map(served.map((entry) => [entry.apiKey, entry]));
  const versions: Record<string, number> = {};
  for (const [name, range] of Object.entries(RANGES)) {
    const entry = byKey.get(range.apiKey);
    const version = entry === undefined ? -1 : Math.min(range.max, entry.maxVersion);
    if (entry === undefined || version < range.min || version < entry.minVersion) {
      const servedText = entry === undefined ? 'not at all' : `v${entry.minVersion}-${entry.maxVersion}`;
      throw new Error(`the embedded log needs ${name} v${range.min}-${range.max}, and the broker serves it ${servedText}`);
    }
    versions[name] = version;
  }
  return versions as ProtocolVersions;
}

/** First Fetch version that names topics by id (KIP-516). */
export const FETCH_VERSION_TOPIC_IDS = 13;
