import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_OPERATIONS_ALL } from '../metadata/authorized-operations.js';

/** DescribeCluster's endpoint types (KIP-919): brokers answer for the broker endpoint only. */
const EndpointType = { BROKER: 1, CONTROLLER: 2 } as const;

/** DescribeCluster v0–1: this node, which is also the controller. */
export const describeClusterHandler = defineHandler({
  apiKey: ApiKey.DescribeCluster,
  minVersion: 0,
  maxVersion: 1,
  handle(request, context) {
    const { config, metadata } = context.broker;
    const endpointType = context.header.apiVersion >= 1 ? (request.endpointType ?? EndpointType.BROKER) : EndpointType.BROKER;
    const base = {
      throttleTimeMs: 0,
      endpointType: EndpointType.BROKER,
      clusterId: metadata.clusterId,
      controllerId: config.nodeId,
      clusterAuthorizedOperations: request.includeClusterAuthorizedOperations ? CLUSTER_OPERATIONS_ALL : AUTHORIZED_OPERATIONS_OMITTED,
    };
    if (endpointType !== EndpointType.BROKER) {
      const mismatched = endpointType === EndpointType.CONTROLLER;
      return {
        ...base,
        errorCode: mismatched ? ErrorCode.MISMATCHED_ENDPOINT_TYPE : ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
        errorMessage: mismatched
          ? 'The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER'
          : `Unsupported endpoint type ${endpointType}`,
        brokers: [],
      };
    }
    const listener = context.broker.advertisedListener();
    return {
      ...base,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      brokers: [{ brokerId: config.nodeId, host: listener.host, port: listener.port, rack: null }],
    };
  },
});
