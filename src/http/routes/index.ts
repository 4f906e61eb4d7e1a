// The registration list: every HTTP operation, in the order it appears in the OpenAPI
// document. Add one import and one entry per new route file.
import type { RouteModule } from '../app-env.js';
import { registerHealth } from './system-health.js';
import { registerMetrics } from './system-metrics.js';
import { registerCreateTopic } from './topics-create.js';
import { registerDeleteTopic } from './topics-delete.js';
import { registerGetTopic } from './topics-get.js';
import { registerListTopics } from './topics-list.js';
import { registerUpdateTopic } from './topics-update.js';
import { registerProduceRecords } from './records-produce.js';
import { registerReadRecords } from './records-read.js';
import { registerPartitionEvents } from './partition-events.js';
import { registerTopicEvents } from './topic-events.js';

export const routeModules: RouteModule[] = [
  // Topics
  registerCreateTopic,
  registerListTopics,
  registerGetTopic,
  registerUpdateTopic,
  registerDeleteTopic,
  // Records
  registerProduceRecords,
  registerReadRecords,
  // Live (SSE)
  registerPartitionEvents,
  registerTopicEvents,
  // System
  registerHealth,
  registerMetrics,
];
