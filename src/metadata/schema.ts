// The whole metadata schema, one module per domain under ./schema/, re-exported here for
// typed drizzle queries (drizzle-kit reads ./schema/*.ts directly).
export * from './schema/api-keys.js';
export * from './schema/cluster.js';
export * from './schema/groups.js';
export * from './schema/topics.js';
export * from './schema/webhooks.js';
export * from './schema/queues.js';
export * from './schema/durable-streams.js';
export * from './schema/leases.js';
export * from './schema/idempotency.js';
