import type { SerdeTopicContext } from './serde.js';

/** Names the registry subject a topic's keys or values are registered under. */
export type SubjectNameStrategy = (context: SerdeTopicContext) => string;

/** Confluent's default TopicNameStrategy: `<topic>-key` and `<topic>-value`. */
export const topicNameStrategy: SubjectNameStrategy = (context) => `${context.topic}-${context.role}`;
