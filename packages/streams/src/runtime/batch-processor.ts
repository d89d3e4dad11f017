import { partitionForKey } from '@defter/broker';
import type { FetchedBatch, LogRecord, OutgoingRecord } from '../log/stream-log.js';
import type { Serde, SerdeRole } from '../serde/serde.js';
import { isRepartitionTopic, repartitionTopicName, type AnyRecord, type SinkOutput, type SourceSpec, type SubTopology, type Topology } from '../topology/topology.js';
import { deadLetterHeaders, RecordFailedError, type ErrorPolicy, type FailureStage } from './error-policy.js';
import type { StreamTask } from './task.js';
import type { StatefulRun } from './task-state.js';

export interface ProcessedBatch {
  /** Outputs and dead letters, in the order they are to be written. */
  readonly records: OutgoingRecord[];
  readonly outputCount: number;
  readonly skipped: number;
  readonly deadLettered: number;
}

export interface BatchProcessorOptions {
  readonly applicationId: string;
  readonly topology: Topology;
  readonly deserializationErrors: ErrorPolicy;
  readonly processingErrors: ErrorPolicy;
  /** The partition count of an output topic (cached by the caller). */
  readonly partitionCount: (topic: string) => Promise<number>;
}

interface BatchOutcome {
  readonly records: OutgoingRecord[];
  outputCount: number;
  skipped: number;
  deadLettered: number;
}

/**
 * One batch, start to finish, except writing: prepare the serdes (the only awaits before the
 * operators), deserialize, run the sub-topology, serialize and partition the outputs. Failed
 * records go to their policy; under 'fail' the first one rejects with a `RecordFailedError`.
 */
export class BatchProcessor {
  /** `prepareSerialize` runs once per (serde, topic, role). */
  private readonly preparedSerdes = new WeakMap<Serde<unknown>, Set<string>>();

  constructor(private readonly options: BatchProcessorOptions) {}

  async process(task: StreamTask, batch: FetchedBatch): Promise<ProcessedBatch> {
    const outcome: BatchOutcome = { records: [], outputCount: 0, skipped: 0, deadLettered: 0 };
    const subTopology = task.subTopology;
    const sources = subTopology.sources.filter((source) => sourceReads(source, batch.topic, subTopology, this.options.applicationId));
    const inputs = new Map<number, AnyRecord[]>();
    const rawByOffset = new Map<bigint, LogRecord>();
    for (const raw of batch.records) rawByOffset.set(raw.offset, raw);
    for (const source of sources) inputs.set(source.sourceId, await this.deserialize(source, batch, task, outcome));

    let outputs: SinkOutput[];
    const run = task.state?.beginRun();
    try {
      outputs = await this.options.topology.run(subTopology, inputs, run);
    } catch (error) {
      // State written by the failed run is put back: the run's records are processed again below (or not at all).
      run?.rollback();
      if (this.options.processingErrors === 'fail') {
        throw new RecordFailedError({ stage: 'processing', error, topic: batch.topic, partition: batch.partition, offset: firstOffset(inputs) });
      }
      outputs = await this.isolateFailures(task, inputs, batch, rawByOffset, outcome);
    }
    await this.serialize(outputs, batch, rawByOffset, outcome);
    return outcome;
  }

  private async deserialize(source: SourceSpec, batch: FetchedBatch, task: StreamTask, outcome: BatchOutcome): Promise<AnyRecord[]> {
    const { keySerde, valueSerde, timestampExtractor } = source;
    const topic = batch.topic;
    if (keySerde.prepareDeserialize !== undefined) {
      await keySerde.prepareDeserialize(
        batch.records.map((record) => record.key),
        { topic, role: 'key' },
      );
    }
    if (valueSerde.prepareDeserialize !== undefined) {
      await valueSerde.prepareDeserialize(
        batch.records.map((record) => record.value),
        { topic, role: 'value' },
      );
    }
    const records: AnyRecord[] = [];
    for (const raw of batch.records) {
      let record: AnyRecord;
      try {
        const position = { topic, partition: batch.partition, offset: raw.offset };
        record = {
          key: keySerde.deserialize(raw.key, { ...position, role: 'key' }),
          value: valueSerde.deserialize(raw.value, { ...position, role: 'value' }),
          headers: raw.headers,
          timestamp: raw.timestamp,
          topic,
          partition: batch.partition,
          offset: raw.offset,
        };
        if (timestampExtractor !== undefined) record = { ...record, timestamp: timestampExtractor(record) };
      } catch (error) {
        await this.fail('deserialization', this.options.deserializationErrors, raw, batch, error, outcome);
        continue;
      }
      task.observeTimestamp(record.timestamp);
      records.push(record);
    }
    return records;
  }

  /**
   * The pipeline raised an error somewhere in the batch: run it again one record at a time, so
   * that only the records that fail go to the policy (see the README: operators then see
   * one-record batches, and side effects of the records before the failure run twice).
   */
  private async isolateFailures(
    task: StreamTask,
    inputs: ReadonlyMap<number, readonly AnyRecord[]>,
    batch: FetchedBatch,
    rawByOffset: ReadonlyMap<bigint, LogRecord>,
    outcome: BatchOutcome,
  ): Promise<SinkOutput[]> {
    const outputs: SinkOutput[] = [];
    for (const [sourceId, records] of inputs) {
      for (const record of records) {
        const run: StatefulRun | undefined = task.state?.beginRun();
        try {
          outputs.push(...(await this.options.topology.run(task.subTopology, new Map([[sourceId, [record]]]), run)));
        } catch (error) {
          run?.rollback();
          await this.fail('processing', this.options.processingErrors, rawByOffset.get(record.offset)!, batch, error, outcome);
        }
      }
    }
    return outputs;
  }

  private async serialize(outputs: readonly SinkOutput[], batch: FetchedBatch, rawByOffset: ReadonlyMap<bigint, LogRecord>, outcome: BatchOutcome): Promise<void> {
    const topics: string[] = [];
    const failures = new Map<SinkOutput, unknown>();
    for (const output of outputs) {
      try {
        const sinkTopic = output.sink.topic;
        const topic =
          typeof sinkTopic === 'string'
            ? sinkTopic
            : isRepartitionTopic(sinkTopic)
              ? repartitionTopicName(this.options.applicationId, sinkTopic.name)
              : sinkTopic(output.record);
        if (typeof topic !== 'string' || topic.length === 0) throw new TypeError(`the topic function returned ${JSON.stringify(topic)}, not a topic name`);
        topics.push(topic);
      } catch (error) {
        topics.push('');
        failures.set(output, error);
      }
    }
    await Promise.all(
      outputs.map(async (output, index) => {
        const topic = topics[index]!;
        if (topic === '') return;
        await this.prepareSerialize(output.sink.keySerde, topic, 'key');
        await this.prepareSerialize(output.sink.valueSerde, topic, 'value');
      }),
    );
    const partitionCounts = new Map<string, number>();
    for (const topic of new Set(topics)) if (topic !== '') partitionCounts.set(topic, await this.options.partitionCount(topic));

    for (let index = 0; index < outputs.length; index += 1) {
      const output = outputs[index]!;
      const topic = topics[index]!;
      let outgoing: OutgoingRecord | undefined;
      let failure = failures.get(output);
      if (failure === undefined) {
        try {
          outgoing = toOutgoing(output, topic, partitionCounts.get(topic)!);
        } catch (error) {
          failure = error;
        }
      }
      if (outgoing !== undefined) {
        outcome.records.push(outgoing);
        outcome.outputCount += 1;
        continue;
      }
      const raw = output.record.topic === batch.topic && output.record.partition === batch.partition ? rawByOffset.get(output.record.offset) : undefined;
      if (raw === undefined) {
        // No input record to blame (the operators built a record with another provenance): only 'fail' is honest.
        throw new RecordFailedError({ stage: 'serialization', error: failure, topic: batch.topic, partition: batch.partition, offset: output.record.offset });
      }
      await this.fail('serialization', this.options.processingErrors, raw, batch, failure, outcome);
    }
  }

  private async prepareSerialize(serde: Serde<unknown>, topic: string, role: SerdeRole): Promise<void> {
    if (serde.prepareSerialize === undefined) return;
    let prepared = this.preparedSerdes.get(serde);
    if (prepared === undefined) {
      prepared = new Set();
      this.preparedSerdes.set(serde, prepared);
    }
    const key = `${role}:${topic}`;
    if (prepared.has(key)) return;
    await serde.prepareSerialize({ topic, role });
    prepared.add(key);
  }

  private async fail(stage: FailureStage, policy: ErrorPolicy, raw: LogRecord, batch: FetchedBatch, error: unknown, outcome: BatchOutcome): Promise<void> {
    const where = { topic: batch.topic, partition: batch.partition, offset: raw.offset };
    if (policy === 'fail') throw new RecordFailedError({ stage, error, ...where });
    if (policy === 'skip') {
      outcome.skipped += 1;
      return;
    }
    const topic = policy.deadLetterTopic;
    const partitionCount = await this.options.partitionCount(topic);
    outcome.records.push({
      topic,
      partition: raw.key !== null ? partitionForKey(raw.key, partitionCount) : batch.partition % partitionCount,
      key: raw.key,
      value: raw.value,
      headers: deadLetterHeaders(raw.headers, { stage, error, applicationId: this.options.applicationId, ...where }),
      timestamp: raw.timestamp,
    });
    outcome.deadLettered += 1;
  }
}

function sourceReads(source: SourceSpec, topic: string, subTopology: SubTopology, applicationId: string): boolean {
  if (!subTopology.topics.has(topic)) return false;
  return source.topics.some((entry) => {
    if (typeof entry === 'string') return entry === topic;
    if (isRepartitionTopic(entry)) return repartitionTopicName(applicationId, entry.name) === topic;
    return new RegExp(entry.source, entry.flags.replace('g', '')).test(topic);
  });
}

function firstOffset(inputs: ReadonlyMap<number, readonly AnyRecord[]>): bigint {
  for (const records of inputs.values()) if (records.length > 0) return records[0]!.offset;
  return -1n;
}

/** Serializes and partitions one output: murmur2 of the key bytes by default, the input partition for a null key. */
function toOutgoing(output: SinkOutput, topic: string, partitionCount: number): OutgoingRecord {
  const { sink, record } = output;
  const key = sink.keySerde.serialize(record.key, { topic, role: 'key' });
  const value = sink.valueSerde.serialize(record.value, { topic, role: 'value' });
  let partition: number;
  if (sink.partitioner !== undefined) {
    partition = sink.partitioner(record, key, partitionCount);
    if (!Number.isInteger(partition) || partition < 0 || partition >= partitionCount) {
      throw new RangeError(`the partitioner chose partition ${partition} of topic "${topic}", which has ${partitionCount}`);
    }
  } else {
    partition = key !== null ? partitionForKey(key, partitionCount) : record.partition % partitionCount;
  }
  return { topic, partition, key, value, headers: record.headers, timestamp: record.timestamp };
}
