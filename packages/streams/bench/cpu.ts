/** Where a row's time goes: the CPU seconds this process and the broker process spent on it. */
import { cpuSecondsOf } from '@defter/broker/bench/process-cpu';

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
