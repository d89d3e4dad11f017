/**
 * Graceful stop on SIGINT and SIGTERM, for every app of the process through one registry.
 *
 * One listener per signal however many apps run (so a process, or a test file, with many apps never
 * sees MaxListenersExceededWarning); an app registers at `start()` and deregisters once it is closed
 * (or in ERROR), and the listeners go when the last app does. On a signal every registered app is
 * closed (`close()`: finish the batches under way, commit, leave the group). When the last one is
 * closed the listeners are removed and the signal is raised again, so that the process ends the way
 * that signal ends it (killed by SIGTERM, status 143 in a shell) — unless the program has a listener
 * of its own for it: that listener already had the first signal and decides what happens next.
 * A second signal during the shutdown exits at once, with status 130 (SIGINT) or 143 (SIGTERM).
 */

export type ShutdownSignal = 'SIGINT' | 'SIGTERM';

const SHUTDOWN_SIGNALS: readonly ShutdownSignal[] = ['SIGINT', 'SIGTERM'];

/** The shell's status for a process ended by the signal: 128 + the signal number. */
export const SIGNAL_EXIT_CODES: Readonly<Record<ShutdownSignal, number>> = { SIGINT: 130, SIGTERM: 143 };

/** What the registry needs of `process` (injectable, so that tests can drive it without signals). */
export interface SignalHost {
  readonly pid: number;
  on(signal: ShutdownSignal, listener: () => void): unknown;
  removeListener(signal: ShutdownSignal, listener: () => void): unknown;
  listenerCount(signal: ShutdownSignal): number;
  kill(pid: number, signal: ShutdownSignal): unknown;
  exit(code: number): unknown;
}

/** An app, as far as the registry is concerned. */
export interface ShutdownTarget {
  readonly applicationId: string;
  close(): Promise<void>;
}

export class ShutdownSignals {
  private readonly targets = new Set<ShutdownTarget>();
  private readonly listeners: Readonly<Record<ShutdownSignal, () => void>>;
  private listening = false;
  /** The signal being handled: set from the first signal until every app is closed. */
  private received: ShutdownSignal | undefined;

  constructor(
    private readonly host: SignalHost,
    private readonly logLine: (line: string) => void,
  ) {
    this.listeners = { SIGINT: () => this.onSignal('SIGINT'), SIGTERM: () => this.onSignal('SIGTERM') };
  }

  /** Registers an app; the returned function deregisters it (call it once the app is closed). */
  register(target: ShutdownTarget): () => void {
    this.targets.add(target);
    if (!this.listening) {
      for (const signal of SHUTDOWN_SIGNALS) this.host.on(signal, this.listeners[signal]);
      this.listening = true;
    }
    // An app started while the process shuts down stops with the others.
    if (this.received !== undefined) void target.close().catch(() => undefined);
    let registered = true;
    return () => {
      if (!registered) return;
      registered = false;
      this.targets.delete(target);
      this.settle();
    };
  }

  /** How many apps are registered. */
  get size(): number {
    return this.targets.size;
  }

  private onSignal(signal: ShutdownSignal): void {
    if (this.received !== undefined) {
      this.logLine(`defter streams: ${signal} again during the graceful shutdown: exiting at once with status ${SIGNAL_EXIT_CODES[signal]}`);
      this.host.exit(SIGNAL_EXIT_CODES[signal]);
      return;
    }
    this.received = signal;
    const names = [...this.targets].map((target) => target.applicationId);
    this.logLine(`defter streams: ${signal}: closing ${names.join(', ')} gracefully (send it again to exit at once)`);
    // Each app deregisters once closed; the last one to go ends the shutdown (settle).
    for (const target of [...this.targets]) void target.close().catch(() => undefined);
    this.settle();
  }

  private settle(): void {
    if (this.targets.size > 0) return;
    if (this.listening) {
      for (const signal of SHUTDOWN_SIGNALS) this.host.removeListener(signal, this.listeners[signal]);
      this.listening = false;
    }
    const signal = this.received;
    if (signal === undefined) return;
    this.received = undefined;
    // Raised again with no listener left, the signal ends the process as it would have without us.
    if (this.host.listenerCount(signal) === 0) this.host.kill(this.host.pid, signal);
  }
}

/** The registry of this process. */
export const processShutdownSignals = new ShutdownSignals(process, (line) => process.stderr.write(`${line}\n`));
