// The scenario list, in the order the runner runs them and the table shows them.
import type { Scenario } from '../lib/context.js';
import { authCost } from './auth-cost.js';
import { deliveryLatency } from './delivery-latency.js';
import { durableStreams } from './durable-streams.js';
import { groups } from './groups.js';
import { kafkaStore } from './kafka-store.js';
import { produceBatch } from './produce-batch.js';
import { produceSingle } from './produce-single.js';
import { queues } from './queues.js';
import { replay } from './replay.js';
import { restart } from './restart.js';
import { sseFanout } from './sse-fanout.js';

export const scenarios: Scenario[] = [
  produceBatch,
  produceSingle,
  deliveryLatency,
  sseFanout,
  replay,
  groups,
  queues,
  restart,
  durableStreams,
  authCost,
  kafkaStore,
];
