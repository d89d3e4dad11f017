import { bytesMapKey } from './bytes.js';
import type { KeyValueEntry } from './key-value-bytes-store.js';
import { StateStoreError } from './state-store-error.js';

/** Rejects a write batch that both puts and deletes one key: its outcome would depend on the order. */
export function assertDisjointBatch(storeName: string, puts: readonly KeyValueEntry[], deletes: readonly Buffer[]): void {
  if (puts.length === 0 || deletes.length === 0) return;
  const deleted = new Set<string>();
  for (const key of deletes) deleted.add(bytesMapKey(key));
  for (const { key } of puts) {
    if (deleted.has(bytesMapKey(key))) {
      throw new StateStoreError(storeName, 'invalid-argument', `store "${storeName}": a write batch both puts and deletes the key 0x${key.toString('hex')}.`);
    }
  }
}
