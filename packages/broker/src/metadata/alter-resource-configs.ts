import { validateTopicName } from '@defter/log';
import { ErrorCode } from '@defter/protocol';
import type { BrokerContext } from '../broker-context.js';
import { KafkaError } from '../errors.js';
import { brokerResourceScope, ConfigResourceType, unsupportedResourceType } from './broker-configs.js';
import type { ConfigChange } from './metadata-store.js';

export interface ResourceConfigAlteration {
  readonly resourceType: number;
  readonly resourceName: string;
  readonly changes: ReadonlyArray<ConfigChange>;
  readonly incremental: boolean;
  readonly validateOnly: boolean;
}

/**
 * One resource of AlterConfigs / IncrementalAlterConfigs: topic configs go to the metadata store;
 * broker settings are fixed at start-up, so any change to them is refused (INVALID_REQUEST, as Kafka
 * answers for settings it cannot update dynamically).
 */
export async function alterResourceConfigs(broker: BrokerContext, alteration: ResourceConfigAlteration): Promise<void> {
  const { resourceType, resourceName, changes, incremental, validateOnly } = alteration;
  if (resourceType === ConfigResourceType.TOPIC) {
    validateTopicName(resourceName);
    await broker.metadata.alterTopicConfigs(resourceName, changes, { incremental, validateOnly });
    return;
  }
  if (resourceType === ConfigResourceType.BROKER) {
    brokerResourceScope(resourceName, broker.config.nodeId);
    if (changes.length === 0) return;
    const names = changes.map((change) => change.name).join(', ');
    throw new KafkaError(ErrorCode.INVALID_REQUEST, `Cannot update these configs dynamically: ${names} (set them in the broker's configuration and restart)`);
  }
  throw unsupportedResourceType(resourceType);
}
