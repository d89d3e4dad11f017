/** Where a row's time goes: the CPU seconds this process and the broker process spent on it. */
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: the unit of utime and stime in /proc/PID/stat. */
const CLOCK_TICKS_PER_S = 100;

/** The user + system CPU seconds a process has used so far (Linux `/proc/PID/stat`), or undefined elsewhere. */
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

export interface CpuSpent {
  /** This process: the streams app or the kafkajs loop (and, for the embedded row, the broker too). */
  readonly benchCpuSeconds: number;
  /** The broker process, when the broker runs in one. */
  readonly brokerCpuSeconds: number | undefined;
}

/** Starts counting; the returned function tells what was spent since. */
export function startCpuCount(brokerPid: number | undefined): () => CpuSpent {
  const benchBefore = process.cpuUsage();
  const brokerBefore = cpuSecondsOf(brokerPid);
  return () => {
    const bench = process.cpuUsage(benchBefore);
    const brokerAfter = cpuSecondsOf(brokerPid);
    return {
      benchCpuSeconds: (bench.user + bench.system) / 1e6,
      brokerCpuSeconds: brokerBefore !== undefined && brokerAfter !== undefined ? brokerAfter - brokerBefore : undefined,
    };
  };
}
