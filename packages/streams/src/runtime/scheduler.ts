/** Time for the runtime: the clock for metrics and the commit timer, injectable for tests. */
export interface Scheduler {
  now(): number;
  /** Calls `callback` every `intervalMs`; returns the function that cancels it. */
  every(intervalMs: number, callback: () => void): () => void;
}

export const systemScheduler: Scheduler = {
  now: () => performance.now(),
  every: (intervalMs, callback) => {
    const timer = setInterval(callback, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  },
};
