import { partitionForKey } from '@defter/broker';
import type { FetchedBatch, LogRecord, OutgoingRecord } from '../log/stream-log.js';
import type { Serde, SerdeRole, SerdeTopicContext } from '../serde/serde.js';
import { isRepartitionTopic, repartitionTopicName, type AnyRecord, type SinkOutput, type SinkSpec, type SourceSpec, type SubTopology, type Topology } from '../topology/topology.js';
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
 * A serde context the runtime reuses for every record of one batch and role, moved to each record's
 * offset before the call: one object per batch instead of one per record (see `SerdeContext`: a
 * context is valid only during the call it is passed to).
 */
interface PositionedSerdeContext {
  readonly topic: string;
  readonly role: SerdeRole;
  readonly partition: number;
  offset: bigint;
}

/** A deserialized record while it is built: its timestamp is set once more when the source has an extractor. */
type RecordUnderConstruction = { -readonly [field in keyof AnyRecord]: AnyRecord[field] };

/** The contexts of an output topic: immutable, so shared by every record written to it in a batch. */
interface SerializeContexts {
  readonly key: SerdeTopicContext;
  readonly value: SerdeTopicContext;
}

/**
 * One batch, start to finish, except writing: prepare the serdes (the only awaits before the
 * operators), deserialize, run the sub-topology, serialize and partition the outputs. Failed
 * records go to their policy; under 'fail' the first one rejects with a `RecordFailedError`.
 *
 * The per-record paths (deserialize, serialize) allocate only the records themselves: contexts
 * are made once per batch (and role, or output topic), serdes are prepared once per distinct
 * (serde, topic, role), and the index from offsets to input records is built only when a record fails.
 */
export class BatchProcessor {
  /**
   * `prepareSerialize` runs once per (serde, topic, role): `true` once done, the promise while it
   * runs (batches under way at once share it); a failed one is forgotten, so a later batch tries again.
   */
  private readonly preparedSerdes = new WeakMap<Serde<unknown>, Map<string, Promise<void> | true>>();
  /** The sources of a sub-topology that read a topic (a pattern is tested once per topic, not per batch). */
  private readonly sourcesByTopic = new WeakMap<SubTopology, Map<string, readonly SourceSpec[]>>();

  constructor(private readonly options: BatchProcessorOptions) {}

  async process(task: StreamTask, batch: FetchedBatch): Promise<ProcessedBatch> {
    const outcome: BatchOutcome = { records: [], outputCount: 0, skipped: 0, deadLettered: 0 };
    const subTopology = task.subTopology;
    const raws = new RawRecordIndex(batch.records);
    const inputs = new Map<number, AnyRecord[]>();
    for (const source of this.sourcesReading(subTopology, batch.topic)) inputs.set(source.sourceId, await this.deserialize(source, batch, task, outcome));

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
      outputs = await this.isolateFailures(task, inputs, batch, raws, outcome);
    }
    await this.serialize(outputs, batch, raws, outcome);
    return outcome;
  }

  private sourcesReading(subTopology: SubTopology, topic: string): readonly SourceSpec[] {
    let byTopic = this.sourcesByTopic.get(subTopology);
    if (byTopic === undefined) {
      byTopic = new Map();
      this.sourcesByTopic.set(subTopology, byTopic);
    }
    let sources = byTopic.get(topic);
    if (sources === undefined) {
      sources = subTopology.sources.filter((source) => sourceReads(source, topic, subTopology, this.options.applicationId));
      byTopic.set(topic, sources);
    }
    return sources;
  }

  private async deserialize(source: SourceSpec, batch: FetchedBatch, task: StreamTask, outcome: BatchOutcome): Promise<AnyRecord[]> {
    const { keySerde, valueSerde, timestampExtractor } = source;
    const { topic, partition } = batch;
    const raws = batch.records;
    if (keySerde.prepareDeserialize !== undefined) {
      await keySerde.prepareDeserialize(
        raws.map((record) => record.key),
        { topic, role: 'key' },
      );
    }
    if (valueSerde.prepareDeserialize !== undefined) {
      await valueSerde.prepareDeserialize(
        raws.map((record) => record.value),
        { topic, role: 'value' },
      );
    }
    const keyContext: PositionedSerdeContext = { topic, role: 'key', partition, offset: -1n };
    const valueContext: PositionedSerdeContext = { topic, role: 'value', partition, offset: -1n };
    const records: AnyRecord[] = [];
    for (let index = 0; index < raws.length; index += 1) {
      const raw = raws[index]!;
      const offset = raw.offset;
      let record: RecordUnderConstruction;
      try {
        keyContext.offset = offset;
        valueContext.offset = offset;
        record = {
          key: keySerde.deserialize(raw.key, keyContext),
          value: valueSerde.deserialize(raw.value, valueContext),
          headers: raw.headers,
          timestamp: raw.timestamp,
          topic,
          partition,
          offset,
        };
        if (timestampExtractor !== undefined) record.timestamp = timestampExtractor(record);
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
    raws: RawRecordIndex,
    outcome: BatchOutcome,
  ): Promise<SinkOutput[]> {
    const outputs: SinkOutput[] = [];
    for (const [sourceId, records] of inputs) {
      for (const record of records) {
        const run: StatefulRun | undefined = task.state?.beginRun();
        try {
          const recordOutputs = await this.options.topology.run(task.subTopology, new Map([[sourceId, [record]]]), run);
          for (const output of recordOutputs) outputs.push(output);
        } catch (error) {
          run?.rollback();
          await this.fail('processing', this.options.processingErrors, raws.get(record.offset)!, batch, error, outcome);
        }
      }
    }
    return outputs;
  }

  /**
   * Resolves each output's topic, prepares the serdes that need it (awaited only when one is not
   * prepared yet), then serializes and partitions the outputs in one synchronous loop; an output
   * that fails goes to the processing policy with its input record.
   */
  private async serialize(outputs: readonly SinkOutput[], batch: FetchedBatch, raws: RawRecordIndex, outcome: BatchOutcome): Promise<void> {
    const count = outputs.length;
    if (count === 0) return;
    // '' marks an output whose topic could not be resolved; its error is in `topicFailures`.
    const topics = new Array<string>(count);
    let topicFailures: Map<number, unknown> | undefined;
    const preparing: Array<Promise<void>> = [];
    const partitionCounts = new Map<string, number>();
    // Consecutive outputs mostly share their sink and topic: those are prepared and counted once.
    let previousSink: SinkSpec | undefined;
    let previousTopic = '';
    for (let index = 0; index < count; index += 1) {
      const output = outputs[index]!;
      const sink = output.sink;
      let topic: string;
      try {
        topic = this.topicOf(output);
      } catch (error) {
        topics[index] = '';
        (topicFailures ??= new Map()).set(index, error);
        continue;
      }
      topics[index] = topic;
      if (sink === previousSink && topic === previousTopic) continue;
      previousSink = sink;
      previousTopic = topic;
      this.prepareSerialize(sink.keySerde, topic, 'key', preparing);
      this.prepareSerialize(sink.valueSerde, topic, 'value', preparing);
      if (!partitionCounts.has(topic)) partitionCounts.set(topic, -1);
    }
    if (preparing.length > 0) await Promise.all(preparing);
    for (const topic of partitionCounts.keys()) partitionCounts.set(topic, await this.options.partitionCount(topic));

    const contextsByTopic = new Map<string, SerializeContexts>();
    let contextsTopic = '';
    let contexts: SerializeContexts = { key: { topic: '', role: 'key' }, value: { topic: '', role: 'value' } };
    let partitionCount = 0;
    for (let index = 0; index < count; index += 1) {
      const output = outputs[index]!;
      const topic = topics[index]!;
      let failure: unknown;
      if (topic === '') {
        failure = topicFailures!.get(index);
      } else {
        if (topic !== contextsTopic) {
          contextsTopic = topic;
          contexts = contextsByTopic.get(topic) ?? serializeContexts(topic, contextsByTopic);
          partitionCount = partitionCounts.get(topic)!;
        }
        try {
          outcome.records.push(toOutgoing(output, topic, partitionCount, contexts));
          outcome.outputCount += 1;
          continue;
        } catch (error) {
          failure = error;
        }
      }
      const record = output.record;
      const raw = record.topic === batch.topic && record.partition === batch.partition ? raws.get(record.offset) : undefined;
      if (raw === undefined) {
        // No input record to blame (the operators built a record with another provenance): only 'fail' is honest.
        throw new RecordFailedError({ stage: 'serialization', error: failure, topic: batch.topic, partition: batch.partition, offset: record.offset });
      }
      await this.fail('serialization', this.options.processingErrors, raw, batch, failure, outcome);
    }
  }

  /** The output's topic: the sink's name, its repartition topic, or what its topic function returns (checked). */
  private topicOf(output: SinkOutput): string {
    const sinkTopic = output.sink.topic;
    if (typeof sinkTopic === 'string') return sinkTopic;
    if (isRepartitionTopic(sinkTopic)) return repartitionTopicName(this.options.applicationId, sinkTopic.name);
    const topic = sinkTopic(output.record);
    if (typeof topic !== 'string' || topic.length === 0) throw new TypeError(`the topic function returned ${JSON.stringify(topic)}, not a topic name`);
    return topic;
  }

  /** Adds to `preparing` what must settle before `serde` can serialize for (topic, role); nothing once it is prepared. */
  private prepareSerialize(serde: Serde<unknown>, topic: string, role: SerdeRole, preparing: Array<Promise<void>>): void {
    if (serde.prepareSerialize === undefined) return;
    let prepared = this.preparedSerdes.get(serde);
    if (prepared === undefined) {
      prepared = new Map();
      this.preparedSerdes.set(serde, prepared);
    }
    const key = `${role}:${topic}`;
    const state = prepared.get(key);
    if (state === true) return;
    if (state !== undefined) {
      preparing.push(state);
      return;
    }
    const serdePrepared = prepared;
    const promise = serde.prepareSerialize({ topic, role }).then(
      () => {
        serdePrepared.set(key, true);
      },
      (error: unknown) => {
        serdePrepared.delete(key);
        throw error;
      },
    );
    serdePrepared.set(key, promise);
    preparing.push(promise);
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

/** A batch's input records by offset, built on first use: only a failed record needs its original bytes. */
class RawRecordIndex {
  private byOffset: Map<bigint, LogRecord> | undefined;

  constructor(private readonly records: readonly LogRecord[]) {}

  get(offset: bigint): LogRecord | undefined {
    if (this.byOffset === undefined) {
      this.byOffset = new Map();
      for (const raw of this.records) this.byOffset.set(raw.offset, raw);
    }
    return this.byOffset.get(offset);
  }
}

function serializeContexts(topic: string, contextsByTopic: Map<string, SerializeContexts>): SerializeContexts {
  const contexts: SerializeContexts = { key: { topic, role: 'key' }, value: { topic, role: 'value' } };
  contextsByTopic.set(topic, contexts);
  return contexts;
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
function toOutgoing(output: SinkOutput, topic: string, partitionCount: number, contexts: SerializeContexts): OutgoingRecord {
  const { sink, record } = output;
  const key = sink.keySerde.serialize(record.key, contexts.key);
  const value = sink.valueSerde.serialize(record.value, contexts.value);
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
