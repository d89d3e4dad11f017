import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: the unit of utime and stime in /proc/PID/stat. */
const CLOCK_TICKS_PER_S = 100;

/**
 * The user + system CPU seconds a process has used so far (Linux `/proc/PID/stat`), or undefined
 * elsewhere or for a process that is gone. The benches use it for a broker in its own process;
 * the streams bench imports it from here (`@defter/broker/bench/process-cpu`), so the package
 * dependency keeps pointing from streams to broker.
 */
export function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name (in parentheses, and it may hold spaces): utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}
