// Prometheus series for queues: deliveries, acknowledgements by action and outcome, lease
// expiries, dead letters, archived and retention-skipped records, per topic and queue.
import { Counter, type Registry } from 'prom-client';
import type { Tally } from './partition-state.js';

export class QueueMetrics {
  private readonly deliveries: Counter<'topic' | 'queue'>;
  private readonly acks: Counter<'topic' | 'queue' | 'action' | 'status'>;
  private readonly outcomes: Counter<'topic' | 'queue' | 'outcome'>;

  constructor(registry: Registry) {
    this.deliveries = new Counter({
      name: 'sluice_queue_deliveries_total',
      help: 'Records handed to queue receivers (redeliveries included), by topic and queue.',
      labelNames: ['topic', 'queue'],
      registers: [registry],
    });
    this.acks = new Counter({
      name: 'sluice_queue_acks_total',
      help: 'Queue acknowledgements by action (accept, release, reject, renew) and result (ok, expired, unknown).',
      labelNames: ['topic', 'queue', 'action', 'status'],
      registers: [registry],
    });
    this.outcomes = new Counter({
      name: 'sluice_queue_records_total',
      help: 'Queue record transitions made on this node by outcome: accepted, released, expired (lease ran out), dead_lettered, archived (given up without a dead-letter topic), skipped (removed by retention before being accepted).',
      labelNames: ['topic', 'queue', 'outcome'],
      registers: [registry],
    });
  }

  delivered(topic: string, queue: string, n: number): void {
    if (n > 0) this.deliveries.inc({ topic, queue }, n);
  }

  acked(topic: string, queue: string, action: string, status: string, n = 1): void {
    this.acks.inc({ topic, queue, action, status }, n);
  }

  transitions(topic: string, queue: string, t: Tally): void {
    const add = (outcome: string, n: number) => {
      if (n > 0) this.outcomes.inc({ topic, queue, outcome }, n);
    };
    add('accepted', t.accepted);
    add('released', t.released);
    add('expired', t.expired);
    add('dead_lettered', t.deadLettered);
    add('archived', t.archived);
    add('skipped', t.skipped);
  }
}
