export { createProgram, runCli } from './program.js';
export { processIo, type CliIo } from './io.js';
export { dumpFile, dumpLogSegment, type DumpOptions, type DumpSummary } from './dump-log.js';
export { runBrokerCommand, type BrokerCommandOptions } from './broker-command.js';
export { KafkaConnection, KafkaProtocolError, ConnectionError, parseHostPort, type KafkaConnectionOptions, type ApiKeyWithResponse } from './kafka-connection.js';
export { ClusterClient, CLIENT_VERSIONS, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, type TopicInfo, type PartitionInfo, type PartitionOffsets } from './cluster-client.js';
export { PartitionFetcher, type FetchPosition, type PartitionFetcherOptions } from './partition-fetcher.js';
export { compileRecordFormat, type FormattableRecord, type RecordFormatter } from './record-format.js';
export { nearest, unknownTopicMessage } from './suggest.js';
