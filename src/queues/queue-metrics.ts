// Prometheus series for queues: deliveries, acknowledgements by action and outcome, lease
// expiries, dead letters, archived and retention-skipped records, per topic and queue; a queue's
// series go when it does (deleted, or with its topic), so receives that create queues add none for good.
import { Counter, type Registry } from 'prom-client';
import type { Tally } from './partition-state.js';

export class QueueMetrics {
  private readonly deliveries: Counter<'topic' | 'queue'>;
  private readonly acks: Counter<'topic' | 'queue' | 'action' | 'status'>;
  private readonly outcomes: Counter<'topic' | 'queue' | 'outcome'>;
  /** topic → queue → the `action status` and `outcome` label values its series were made with. */
  private readonly made = new Map<string, Map<string, { acks: Set<string>; outcomes: Set<string> }>>();

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
    if (n <= 0) return;
    this.seriesOf(topic, queue);
    this.deliveries.inc({ topic, queue }, n);
  }

  acked(topic: string, queue: string, action: string, status: string, n = 1): void {
    this.seriesOf(topic, queue).acks.add(`${action} ${status}`);
    this.acks.inc({ topic, queue, action, status }, n);
  }

  transitions(topic: string, queue: string, t: Tally): void {
    const add = (outcome: string, n: number) => {
      if (n <= 0) return;
      this.seriesOf(topic, queue).outcomes.add(outcome);
      this.outcomes.inc({ topic, queue, outcome }, n);
    };
    add('accepted', t.accepted);
    add('released', t.released);
    add('expired', t.expired);
    add('dead_lettered', t.deadLettered);
    add('archived', t.archived);
    add('skipped', t.skipped);
  }

  /** Remove the queue's series (it was deleted; one created again under its name starts from zero). */
  forgetQueue(topic: string, queue: string): void {
    const queues = this.made.get(topic);
    const made = queues?.get(queue);
    if (!queues || !made) return;
    this.deliveries.remove({ topic, queue });
    for (const key of made.acks) {
      const [action, status] = key.split(' ') as [string, string];
      this.acks.remove({ topic, queue, action, status });
    }
    for (const outcome of made.outcomes) this.outcomes.remove({ topic, queue, outcome });
    queues.delete(queue);
    if (queues.size === 0) this.made.delete(topic);
  }

  /** Remove the series of every queue of the topic (deleted, here or on another node). */
  forgetTopic(topic: string): void {
    for (const queue of [...(this.made.get(topic)?.keys() ?? [])]) this.forgetQueue(topic, queue);
  }

  private seriesOf(topic: string, queue: string): { acks: Set<string>; outcomes: Set<string> } {
    let queues = this.made.get(topic);
    if (!queues) this.made.set(topic, (queues = new Map()));
    let made = queues.get(queue);
    if (!made) queues.set(queue, (made = { acks: new Set(), outcomes: new Set() }));
    return made;
  }
}
