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
import { registerJoinGroup } from './group-join.js';
import { registerGroupFetch } from './group-fetch.js';
import { registerGroupHeartbeat } from './group-heartbeat.js';
import { registerLeaveGroup } from './group-leave.js';
import { registerCommitOffsets } from './group-commit.js';
import { registerListGroups } from './group-list.js';
import { registerGetGroup } from './group-get.js';
import { registerDeleteGroup } from './group-delete.js';
import { registerResetOffsets } from './group-reset.js';
import { registerGroupEvents } from './group-events.js';
import { registerCreateWebhook } from './webhook-create.js';
import { registerListWebhooks } from './webhook-list.js';
import { registerGetWebhook } from './webhook-get.js';
import { registerUpdateWebhook } from './webhook-update.js';
import { registerDeleteWebhook } from './webhook-delete.js';
import { registerRotateWebhookSecret } from './webhook-rotate-secret.js';
import { registerListWebhookDeliveries } from './webhook-deliveries.js';
import { registerPutQueue } from './queue-put.js';
import { registerListQueues } from './queue-list.js';
import { registerGetQueue } from './queue-get.js';
import { registerDeleteQueue } from './queue-delete.js';
import { registerReceive } from './queue-receive.js';
import { registerAck } from './queue-ack.js';
import { registerQueueEvents } from './queue-events.js';
import { registerCreateKey } from './keys-create.js';
import { registerListKeys } from './keys-list.js';
import { registerGetKey } from './keys-get.js';
import { registerRevokeKey } from './keys-revoke.js';
import { registerUpdateKey } from './keys-update.js';
import { registerCreateToken } from './tokens-create.js';
import { registerCreateStream } from './stream-create.js';
import { registerAppendToStream } from './stream-append.js';
import { registerHeadStream, registerReadStream } from './stream-read.js';
import { registerDeleteStream } from './stream-delete.js';
import { registerWhoami } from './whoami.js';
import { registerOverviewEvents } from './overview-events.js';

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
  // Consumer groups
  registerJoinGroup,
  registerGroupFetch,
  registerGroupHeartbeat,
  registerLeaveGroup,
  registerCommitOffsets,
  registerResetOffsets,
  registerListGroups,
  registerGetGroup,
  registerDeleteGroup,
  registerGroupEvents,
  // Webhooks
  registerCreateWebhook,
  registerListWebhooks,
  registerGetWebhook,
  registerUpdateWebhook,
  registerDeleteWebhook,
  registerRotateWebhookSecret,
  registerListWebhookDeliveries,
  // Queues
  registerPutQueue,
  registerListQueues,
  registerGetQueue,
  registerDeleteQueue,
  registerReceive,
  registerAck,
  registerQueueEvents,
  // Access control
  registerCreateKey,
  registerListKeys,
  registerGetKey,
  registerUpdateKey,
  registerRevokeKey,
  registerCreateToken,
  registerWhoami,
  // System
  registerHealth,
  registerMetrics,
  registerOverviewEvents,
  // Durable Streams
  registerCreateStream,
  registerAppendToStream,
  registerReadStream,
  registerHeadStream,
  registerDeleteStream,
];
