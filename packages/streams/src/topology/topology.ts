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

export interface SourceSpec {
  readonly sourceId: number;
  readonly nodeId: number;
  /** Topic names and patterns, as given to `app.stream()`. */
  readonly topics: ReadonlyArray<string | RegExp>;
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
  readonly topic: string | ((record: AnyRecord) => string);
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly partitioner: Partitioner | undefined;
}

export interface SinkOutput {
  readonly sink: SinkSpec;
  readonly record: AnyRecord;
}

type NodeBuild = (parents: ReadonlyArray<Observable<unknown>>) => Observable<unknown>;

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
}

export class Topology {
  private readonly nodes: TopologyNode[] = [];
  private readonly sourceSpecs: SourceSpec[] = [];
  private readonly sinkSpecs: SinkSpec[] = [];
  private readonly consumerCounts: number[] = [];
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
      });
    }
    return result;
  }

  /**
   * Runs one batch through a sub-topology: `inputs` holds the records per source id. Resolves with
   * every record that reached a sink once the graph completes (asynchronous operators included);
   * rejects with the first error any operator raised.
   */
  run(subTopology: SubTopology, inputs: ReadonlyMap<number, readonly AnyRecord[]>): Promise<SinkOutput[]> {
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
        observable = node.build(node.parents.map(instantiate));
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
