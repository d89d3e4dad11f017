import { ignoreElements, map, merge, share, Subject, type Observable } from 'rxjs';
import type { Serde } from '../serde/serde.js';
import type { StreamRecord } from '../dsl/stream-record.js';

/**
 * The graph an app's `stream()` / `pipe()` / `to()` calls describe, and how one batch runs through it.
 *
 * Nodes are descriptions, not live observables: for every batch the runtime instantiates the
 * sub-topology's nodes afresh (a `Subject` per source, each node's operators applied to its
 * parents), subscribes every terminal, pushes the batch's records in, completes the sources and
 * waits for the whole graph to complete. A node read by more than one child is `share()`d, so
 * that its operators (and side effects) run once per record whatever the fan-out.
 */

export type AnyRecord = StreamRecord<unknown, unknown>;

/**
 * An internal topic of the app, created at `start()`: `<applicationId>-<name>-repartition`. The
 * topology holds only the name; the app, which knows its applicationId, resolves it.
 */
export interface RepartitionTopic {
  readonly name: string;
  /** Undefined: the most partitions among the topics its writer reads (Kafka Streams' default). */
  readonly partitions: number | undefined;
}

/** Where a source reads: a topic name, a pattern, or one of the app's repartition topics. */
export type SourceTopic = string | RegExp | RepartitionTopic;

/** Where a sink writes: a topic name, a function of the record, or one of the app's repartition topics. */
export type SinkTopic = string | ((record: AnyRecord) => string) | RepartitionTopic;

/** The topic name of a repartition topic (Kafka Streams' naming, so operators recognise it). */
export function repartitionTopicName(applicationId: string, name: string): string {
  return `${applicationId}-${name}-repartition`;
}

export function isRepartitionTopic(topic: SourceTopic | SinkTopic): topic is RepartitionTopic {
  return typeof topic === 'object' && !(topic instanceof RegExp);
}

/** Repartition names become part of a topic name: Kafka's legal topic characters only. */
const REPARTITION_NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

export interface SourceSpec {
  readonly sourceId: number;
  readonly nodeId: number;
  /** Topic names and patterns, as given to `app.stream()`, or the topic a `through`/`repartition` reads back. */
  readonly topics: readonly SourceTopic[];
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  /** Event time of a deserialized record; the log timestamp when absent. */
  readonly timestampExtractor: ((record: AnyRecord) => number) | undefined;
}

/** Chooses a partition for a record; `keyBytes` is the serialized key (null for a null key). */
export type Partitioner = (record: AnyRecord, keyBytes: Buffer | null, partitionCount: number) => number;

export interface SinkSpec {
  readonly sinkId: number;
  readonly nodeId: number;
  readonly topic: SinkTopic;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly partitioner: Partitioner | undefined;
}

export interface SinkOutput {
  readonly sink: SinkSpec;
  readonly record: AnyRecord;
}

/**
 * A state store as a stateful node sees it during one batch: `update` takes the keys the batch
 * will touch, reads those not cached with one `getMany`, then runs `apply` synchronously with
 * `get`/`put` on the cache (reading a key not named throws: a bug, never a silent "absent").
 * Concurrent batches of one task take turns (one `update` at a time per store).
 */
export interface TaskStore<K = unknown, V = unknown> {
  readonly name: string;
  update<R>(keys: Iterable<K>, apply: (view: StoreView<K, V>) => R): Promise<R>;
}

export interface StoreView<K, V> {
  get(key: K): V | null;
  /** `null` deletes the key. */
  put(key: K, value: V | null): void;
}

/**
 * A store inside `RunContext.exclusive`: `preload` then synchronous `get`/`put`, and `range` (keys
 * in serialized order, through the cache) for the steps that must scan (stream–stream join buffers).
 */
export interface StoreAccess<K = unknown, V = unknown> extends StoreView<K, V> {
  preload(keys: Iterable<K>): Promise<void>;
  range(from: K | undefined, to: K | undefined): AsyncIterable<{ readonly key: K; readonly value: V }>;
}

/** What a node's build gets besides its parents: the task's stores. */
export interface RunContext {
  store(name: string): TaskStore;
  /**
   * Several stores at once, for a step that reads one and writes another (joins): `body` runs
   * when it holds the turn of every named store, so no other batch of the task touches them
   * until it settles.
   */
  exclusive<R>(names: readonly string[], body: (stores: ReadonlyMap<string, StoreAccess>) => Promise<R>): Promise<R>;
  /**
   * Stream time the task reached without records (the idle advance, `streamTimeIdleAdvanceMs`):
   * windowed steps take it as a floor for their own stream time. Absent: no floor.
   */
  readonly streamTimeFloorMs?: number;
  /** Counts records a windowed step dropped as late (the task's `recordsLate`); undone when the run is rolled back. */
  recordsLate?(count: number): void;
  /**
   * Window retention: deletes every key of the store bytewise below `keyBytes` (serialized) from its
   * cache and store, without changelog records (the changelog topic has its own retention).
   */
  deleteBelow?(name: string, keyBytes: Buffer): Promise<number>;
}

/** A key-value store a stateful node owns: one per task, backed by `<applicationId>-<name>-changelog`. */
export interface StoreSpec {
  readonly name: string;
  /** The stateful node that reads and writes it. */
  readonly nodeId: number;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
}

/** Store names become part of a topic and a directory name: Kafka's legal topic characters only. */
const STORE_NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

const NO_STORES: RunContext = {
  store(name) {
    throw new Error(`the store "${name}" is not available here: stateful steps run inside an app's tasks`);
  },
  exclusive(names) {
    throw new Error(`the stores ${names.map((name) => `"${name}"`).join(', ')} are not available here: stateful steps run inside an app's tasks`);
  },
};

type NodeBuild = (parents: ReadonlyArray<Observable<unknown>>, context: RunContext) => Observable<unknown>;

interface TopologyNode {
  readonly nodeId: number;
  readonly parents: readonly number[];
  readonly build: NodeBuild;
  /** Set on source nodes. */
  readonly sourceId: number | undefined;
  /** Set on sink nodes. */
  readonly sink: SinkSpec | undefined;
}

/** A connected part of the graph: its tasks are (sub-topology, partition) pairs. */
export interface SubTopology {
  readonly subTopologyId: number;
  readonly nodeIds: readonly number[];
  readonly sources: readonly SourceSpec[];
  readonly sinks: readonly SinkSpec[];
  /** The concrete topics its sources read (patterns resolved). */
  readonly topics: ReadonlySet<string>;
  /** The state stores of its stateful nodes: each task of the sub-topology has its own instance. */
  readonly stores: readonly StoreSpec[];
}

export class Topology {
  private readonly nodes: TopologyNode[] = [];
  private readonly sourceSpecs: SourceSpec[] = [];
  private readonly sinkSpecs: SinkSpec[] = [];
  private readonly consumerCounts: number[] = [];
  private readonly repartitions: RepartitionTopic[] = [];
  private readonly storeSpecs: StoreSpec[] = [];
  private readonly copartitions: Array<{ readonly description: string; readonly sides: readonly [number, number] }> = [];
  private frozen = false;

  addSource(spec: Omit<SourceSpec, 'sourceId' | 'nodeId'>): number {
    const sourceId = this.sourceSpecs.length;
    const nodeId = this.addNode([], () => {
      throw new Error('a source node is fed by the runtime, not built');
    }, sourceId);
    this.sourceSpecs.push({ ...spec, sourceId, nodeId });
    return nodeId;
  }

  addNode(parents: readonly number[], build: NodeBuild, sourceId?: number, sink?: (nodeId: number) => SinkSpec): number {
    if (this.frozen) throw new Error('the topology cannot change once the app has started');
    for (const parent of parents) {
      if (parent < 0 || parent >= this.nodes.length) throw new RangeError(`unknown parent node ${parent}`);
    }
    const nodeId = this.nodes.length;
    const sinkSpec = sink?.(nodeId);
    this.nodes.push({ nodeId, parents: [...parents], build, sourceId, sink: sinkSpec });
    this.consumerCounts.push(0);
    for (const parent of parents) this.consumerCounts[parent]! += 1;
    if (sinkSpec !== undefined) this.sinkSpecs.push(sinkSpec);
    return nodeId;
  }

  addSink(parent: number, spec: Omit<SinkSpec, 'sinkId' | 'nodeId'>): void {
    const sinkId = this.sinkSpecs.length;
    this.addNode(
      [parent],
      ([input]) => input!.pipe(map((record) => ({ sink: this.sinkSpecs[sinkId]!, record: record as AnyRecord }))),
      undefined,
      (nodeId) => ({ ...spec, sinkId, nodeId }),
    );
  }

  /**
   * `through`: writes the records of `parent` to `topic` and reads them back as a new source. The
   * sink and the source share no edge, so the graph splits there: what follows runs in the tasks of
   * the topic's partitions. Returns the new source's node id.
   */
  addThrough(parent: number, spec: Omit<SinkSpec, 'sinkId' | 'nodeId' | 'topic'> & { readonly topic: string | RepartitionTopic }): number {
    this.addSink(parent, spec);
    return this.addSource({ topics: [spec.topic], keySerde: spec.keySerde, valueSerde: spec.valueSerde, timestampExtractor: undefined });
  }

  /**
   * `repartition`: `addThrough` to an internal topic. Without a name, the name is derived from the
   * sink's node index (`KSTREAM-REPARTITION-0000000005`), which changes when steps are added or
   * reordered before it: name it to keep the topic (and its data) across such changes.
   */
  addRepartition(parent: number, spec: Omit<SinkSpec, 'sinkId' | 'nodeId' | 'topic'> & { readonly name?: string; readonly partitions?: number }): number {
    const name = spec.name ?? `KSTREAM-REPARTITION-${String(this.nodes.length).padStart(10, '0')}`;
    if (!REPARTITION_NAME_PATTERN.test(name)) {
      throw new RangeError(`the repartition name ${JSON.stringify(name)} may hold only letters, digits, '.', '_' and '-'`);
    }
    if (this.repartitions.some((topic) => topic.name === name)) {
      throw new RangeError(`a repartition topic named "${name}" exists already in this app: give each repartition() its own name`);
    }
    if (spec.partitions !== undefined && !(Number.isInteger(spec.partitions) && spec.partitions >= 1)) {
      throw new RangeError(`repartition partitions must be a positive integer, got ${spec.partitions}`);
    }
    if (this.frozen) throw new Error('the topology cannot change once the app has started');
    const topic: RepartitionTopic = { name, partitions: spec.partitions };
    const nodeId = this.addThrough(parent, { keySerde: spec.keySerde, valueSerde: spec.valueSerde, partitioner: spec.partitioner, topic });
    this.repartitions.push(topic);
    return nodeId;
  }

  /**
   * A stateful node: `build` gets its parent and the run context (the task's stores). The store
   * name must be unique in the app: it names the changelog topic and the store's directory.
   */
  addStatefulNode(parent: number, store: Omit<StoreSpec, 'nodeId'>, build: NodeBuild): number {
    if (typeof store.name !== 'string' || !STORE_NAME_PATTERN.test(store.name)) {
      throw new RangeError(`the store name ${JSON.stringify(store.name)} must be non-empty and hold only letters, digits, '.', '_' and '-'`);
    }
    if (this.storeSpecs.some((spec) => spec.name === store.name)) {
      throw new RangeError(`a store named "${store.name}" exists already in this app: give each stateful step its own name`);
    }
    const nodeId = this.addNode([parent], build);
    this.storeSpecs.push({ ...store, nodeId });
    return nodeId;
  }

  /**
   * A node with several parents that may own several stores (joins). Its parents join one
   * sub-topology, so their topics must be co-partitioned: `copartition` names the two sides the
   * app checks at `start()` (same partition count).
   */
  addJoinNode(
    parents: readonly number[],
    stores: ReadonlyArray<Omit<StoreSpec, 'nodeId'>>,
    build: NodeBuild,
    copartition: { readonly description: string; readonly sides: readonly [number, number] } | undefined,
  ): number {
    for (const store of stores) {
      if (typeof store.name !== 'string' || !STORE_NAME_PATTERN.test(store.name)) {
        throw new RangeError(`the store name ${JSON.stringify(store.name)} must be non-empty and hold only letters, digits, '.', '_' and '-'`);
      }
      if (this.storeSpecs.some((spec) => spec.name === store.name)) {
        throw new RangeError(`a store named "${store.name}" exists already in this app: give each stateful step its own name`);
      }
    }
    const nodeId = this.addNode(parents, build);
    for (const store of stores) this.storeSpecs.push({ ...store, nodeId });
    if (copartition !== undefined) this.copartitions.push(copartition);
    return nodeId;
  }

  /** The pairs of nodes whose input topics must have one partition count (joins). */
  get copartitionRequirements(): ReadonlyArray<{ readonly description: string; readonly sides: readonly [number, number] }> {
    return this.copartitions;
  }

  /** The sources a node reads from, through its parents (not across through/repartition topics). */
  sourcesUpstreamOf(nodeId: number): SourceSpec[] {
    const seen = new Set<number>();
    const sources: SourceSpec[] = [];
    const visit = (id: number): void => {
      if (seen.has(id)) return;
      seen.add(id);
      const node = this.nodes[id]!;
      if (node.sourceId !== undefined) sources.push(this.sourceSpecs[node.sourceId]!);
      for (const parent of node.parents) visit(parent);
    };
    visit(nodeId);
    return sources;
  }

  get stores(): readonly StoreSpec[] {
    return this.storeSpecs;
  }

  /** The app's internal repartition topics, in the order they were defined. */
  get repartitionTopics(): readonly RepartitionTopic[] {
    return this.repartitions;
  }

  get sources(): readonly SourceSpec[] {
    return this.sourceSpecs;
  }

  get sinks(): readonly SinkSpec[] {
    return this.sinkSpecs;
  }

  freeze(): void {
    this.frozen = true;
  }

  /**
   * Splits the graph into connected parts. Sources that read the same topic are joined into one
   * part: a fetched batch then feeds exactly one task, and its offsets belong to that task alone.
   * `through`/`repartition` leave no edge between their sink and the source reading back, so the
   * graph splits there.
   */
  subTopologies(topicsBySource: ReadonlyMap<number, readonly string[]>): SubTopology[] {
    const parent = this.nodes.map((node) => node.nodeId);
    const find = (id: number): number => {
      while (parent[id] !== id) {
        parent[id] = parent[parent[id]!]!;
        id = parent[id]!;
      }
      return id;
    };
    const union = (a: number, b: number): void => {
      parent[find(a)] = find(b);
    };
    for (const node of this.nodes) for (const p of node.parents) union(node.nodeId, p);
    const nodeByTopic = new Map<string, number>();
    for (const source of this.sourceSpecs) {
      for (const topic of topicsBySource.get(source.sourceId) ?? []) {
        const other = nodeByTopic.get(topic);
        if (other === undefined) nodeByTopic.set(topic, source.nodeId);
        else union(other, source.nodeId);
      }
    }
    const groups = new Map<number, number[]>();
    for (const node of this.nodes) {
      const root = find(node.nodeId);
      const group = groups.get(root) ?? [];
      group.push(node.nodeId);
      groups.set(root, group);
    }
    const result: SubTopology[] = [];
    for (const nodeIds of [...groups.values()].sort((a, b) => a[0]! - b[0]!)) {
      const members = new Set(nodeIds);
      const sources = this.sourceSpecs.filter((source) => members.has(source.nodeId));
      if (sources.length === 0) continue;
      const topics = new Set(sources.flatMap((source) => topicsBySource.get(source.sourceId) ?? []));
      result.push({
        subTopologyId: result.length,
        nodeIds,
        sources,
        sinks: this.sinkSpecs.filter((sink) => members.has(sink.nodeId)),
        topics,
        stores: this.storeSpecs.filter((store) => members.has(store.nodeId)),
      });
    }
    return result;
  }

  /**
   * The partition count of every repartition topic: as asked, or (Kafka Streams' default) the most
   * partitions among the topics read by the sub-topology that writes it, where a repartition topic
   * read there counts with its own count. `partitionsOf` holds the counts of the other input topics.
   */
  repartitionPartitions(
    subTopologies: readonly SubTopology[],
    applicationId: string,
    partitionsOf: ReadonlyMap<string, number>,
  ): Map<RepartitionTopic, number> {
    const byTopicName = new Map(this.repartitions.map((topic) => [repartitionTopicName(applicationId, topic.name), topic]));
    const result = new Map<RepartitionTopic, number>();
    const visiting = new Set<RepartitionTopic>();
    const resolve = (topic: RepartitionTopic): number => {
      const known = result.get(topic) ?? topic.partitions;
      if (known !== undefined) return known;
      // A cycle (a merge that feeds a repartition topic back upstream) contributes nothing.
      if (visiting.has(topic)) return 0;
      visiting.add(topic);
      const writer = subTopologies.find((subTopology) => subTopology.sinks.some((sink) => sink.topic === topic));
      let most = 0;
      for (const name of writer?.topics ?? []) {
        const upstream = byTopicName.get(name);
        most = Math.max(most, upstream !== undefined ? resolve(upstream) : (partitionsOf.get(name) ?? 0));
      }
      visiting.delete(topic);
      if (most === 0) {
        throw new Error(`cannot derive the partition count of the repartition topic "${topic.name}" from the topics upstream of it: give it with repartition({ partitions })`);
      }
      return most;
    };
    for (const topic of this.repartitions) result.set(topic, resolve(topic));
    return result;
  }

  /**
   * The graph as sub-topologies and nodes, for people and tests. Patterns appear as written (they are
   * resolved at start; two sources with one pattern count as reading one topic); repartition topics
   * get their full names when `applicationId` is given.
   */
  describe(applicationId = '<applicationId>'): TopologyDescription {
    const label = (topic: SourceTopic | SinkTopic): string => {
      if (typeof topic === 'string') return topic;
      if (topic instanceof RegExp) return String(topic);
      if (typeof topic === 'function') return '<function>';
      return repartitionTopicName(applicationId, topic.name);
    };
    const topicsBySource = new Map(this.sourceSpecs.map((source) => [source.sourceId, source.topics.map(label)]));
    const subTopologies = this.subTopologies(topicsBySource).map((subTopology): SubTopologyDescription => ({
      subTopologyId: subTopology.subTopologyId,
      sourceTopics: [...subTopology.topics],
      sinkTopics: [...new Set(subTopology.sinks.map((sink) => label(sink.topic)))],
      nodes: subTopology.nodeIds.map((nodeId) => {
        const node = this.nodes[nodeId]!;
        if (node.sourceId !== undefined) return { nodeId, kind: 'source', parents: [], topics: topicsBySource.get(node.sourceId)! };
        if (node.sink !== undefined) return { nodeId, kind: 'sink', parents: node.parents, topics: [label(node.sink.topic)] };
        const stores = this.storeSpecs.filter((store) => store.nodeId === nodeId).map((store) => store.name);
        return { nodeId, kind: 'processor', parents: node.parents, topics: [], ...(stores.length > 0 ? { stores } : {}) };
      }),
    }));
    return new TopologyDescription(
      subTopologies,
      this.repartitions.map((topic) => ({ topic: repartitionTopicName(applicationId, topic.name), partitions: topic.partitions })),
    );
  }

  /**
   * Runs one batch through a sub-topology: `inputs` holds the records per source id. Resolves with
   * every record that reached a sink once the graph completes (asynchronous operators included);
   * rejects with the first error any operator raised.
   */
  run(subTopology: SubTopology, inputs: ReadonlyMap<number, readonly AnyRecord[]>, context: RunContext = NO_STORES): Promise<SinkOutput[]> {
    const subjects = new Map<number, Subject<AnyRecord>>();
    const instances = new Map<number, Observable<unknown>>();
    const instantiate = (nodeId: number): Observable<unknown> => {
      const existing = instances.get(nodeId);
      if (existing !== undefined) return existing;
      const node = this.nodes[nodeId]!;
      let observable: Observable<unknown>;
      if (node.sourceId !== undefined) {
        const subject = new Subject<AnyRecord>();
        subjects.set(node.sourceId, subject);
        observable = subject;
      } else {
        observable = node.build(node.parents.map(instantiate), context);
      }
      if (this.consumerCounts[nodeId]! > 1) observable = observable.pipe(share());
      instances.set(nodeId, observable);
      return observable;
    };
    const terminals: Array<Observable<SinkOutput>> = [];
    for (const nodeId of subTopology.nodeIds) {
      if (this.consumerCounts[nodeId]! > 0) continue;
      const node = this.nodes[nodeId]!;
      const instance = instantiate(nodeId);
      terminals.push(node.sink !== undefined ? (instance as Observable<SinkOutput>) : instance.pipe(ignoreElements()));
    }
    for (const source of subTopology.sources) instantiate(source.nodeId);
    return new Promise<SinkOutput[]>((resolve, reject) => {
      const outputs: SinkOutput[] = [];
      let failed = false;
      merge(...terminals).subscribe({
        next: (output) => outputs.push(output),
        error: (error: unknown) => {
          failed = true;
          reject(error);
        },
        complete: () => resolve(outputs),
      });
      for (const [sourceId, subject] of subjects) {
        for (const record of inputs.get(sourceId) ?? []) {
          if (failed) return;
          subject.next(record);
        }
        subject.complete();
      }
    });
  }
}

export interface NodeDescription {
  readonly nodeId: number;
  readonly kind: 'source' | 'processor' | 'sink';
  readonly parents: readonly number[];
  /** What a source reads or a sink writes (empty for a processor). */
  readonly topics: readonly string[];
  /** The state stores of a stateful processor. */
  readonly stores?: readonly string[];
}

export interface SubTopologyDescription {
  readonly subTopologyId: number;
  readonly sourceTopics: readonly string[];
  readonly sinkTopics: readonly string[];
  readonly nodes: readonly NodeDescription[];
}

/** What `describe()` gives: the sub-topologies (one task per sub-topology and input partition). */
export class TopologyDescription {
  constructor(
    readonly subTopologies: readonly SubTopologyDescription[],
    /** `partitions` undefined: derived at start from the topics upstream. */
    readonly repartitionTopics: ReadonlyArray<{ readonly topic: string; readonly partitions: number | undefined }>,
  ) {}

  toString(): string {
    const lines: string[] = [];
    for (const subTopology of this.subTopologies) {
      lines.push(`Sub-topology ${subTopology.subTopologyId}: reads ${subTopology.sourceTopics.join(', ')}; writes ${subTopology.sinkTopics.join(', ') || 'nothing'}`);
      for (const node of subTopology.nodes) {
        const from = node.parents.length > 0 ? ` <- ${node.parents.join(', ')}` : '';
        const topics = node.topics.length > 0 ? ` [${node.topics.join(', ')}]` : '';
        const stores = node.stores !== undefined ? ` (stores: ${node.stores.join(', ')})` : '';
        lines.push(`  ${node.kind} ${node.nodeId}${from}${topics}${stores}`);
      }
    }
    for (const topic of this.repartitionTopics) {
      lines.push(`Repartition topic ${topic.topic}: ${topic.partitions === undefined ? 'partitions of the topics upstream' : `${topic.partitions} partitions`}`);
    }
    return lines.join('\n');
  }
}
