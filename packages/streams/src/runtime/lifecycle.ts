/**
 * An app's states (Kafka Streams' names):
 * CREATED → REBALANCING (start: joining the group) ⇄ RUNNING (tasks assigned) → PENDING_SHUTDOWN
 * (close: finishing the batches under way, committing, leaving the group) → NOT_RUNNING; any state
 * but NOT_RUNNING → ERROR when a record fails under the 'fail' policy or the log fails.
 * SIGINT/SIGTERM lead to PENDING_SHUTDOWN like `close()` does (`shutdown-signals.ts`).
 */
export type AppState = 'CREATED' | 'REBALANCING' | 'RUNNING' | 'PENDING_SHUTDOWN' | 'NOT_RUNNING' | 'ERROR';

const TRANSITIONS: Readonly<Record<AppState, readonly AppState[]>> = {
  CREATED: ['REBALANCING', 'PENDING_SHUTDOWN', 'ERROR'],
  REBALANCING: ['RUNNING', 'REBALANCING', 'PENDING_SHUTDOWN', 'ERROR'],
  RUNNING: ['REBALANCING', 'PENDING_SHUTDOWN', 'ERROR'],
  PENDING_SHUTDOWN: ['NOT_RUNNING', 'ERROR'],
  NOT_RUNNING: [],
  ERROR: [],
};

export function canTransition(from: AppState, to: AppState): boolean {
  return TRANSITIONS[from].includes(to);
}
