/**
 * Why a state store refused an operation. `not-preloaded` and `invalid-argument` are bugs in the
 * caller; `storage` wraps a RocksDB or file-system failure; `corrupt` is bad bytes on disk.
 */
export type StateStoreErrorReason = 'not-preloaded' | 'not-open' | 'invalid-argument' | 'storage' | 'corrupt' | 'busy';

/** One error type for every store, cache and checkpoint failure; the message names the store. */
export class StateStoreError extends Error {
  override readonly name = 'StateStoreError';

  constructor(
    readonly storeName: string,
    readonly reason: StateStoreErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
