// Group offsets mirrored to Kafka (the Kafka log store): every interval, one node — the holder of
// a lease in Postgres — copies the offsets HTTP consumer groups committed in Postgres to Kafka
// consumer groups named `<SLUICE_KAFKA_TOPIC_PREFIX><group>`, so Kafka tooling
// (`kafka-consumer-groups.sh --describe`, lag exporters) sees their position and lag.
//
// Postgres stays the source of truth and the only thing fencing checks: the mirror is written after
// the commit, may lag it by an interval, and is never read back. Kafka refuses the write while a
// Kafka group of that name has members of its own; that group is then left alone (logged once).
import { groupOffsets } from '../metadata/schema/groups.js';
import type { MetadataDb } from '../metadata/connection.js';
import type { HeldLease, Leases } from './leases.js';

export const OFFSET_MIRROR_LEASE = 'kafka-offset-mirror';

export interface OffsetMirrorOptions {
  db: MetadataDb;
  leases: Leases;
  /** The Sluice topic id of a topic name, if the topic exists. */
  topicId(name: string): string | undefined;
  mirror(group: string, offsets: Array<{ topicId: string; partition: number; offset: number }>): Promise<void>;
  /** Kafka group id = prefix + Sluice group name. */
  groupPrefix: string;
  intervalMs: number;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export class OffsetMirror {
  /** What was last written to Kafka: `group\0topicId\0partition` → offset. */
  private readonly written = new Map<string, number>();
  private readonly refused = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private held: HeldLease | undefined;

  constructor(private readonly o: OffsetMirrorOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  /** One pass (also what the timer runs); resolves when it is done. Never throws. */
  tick(): Promise<void> {
    this.running ??= this.pass()
      .catch((e: unknown) => this.o.logger.warn({ err: e }, 'group offset mirror to Kafka failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    const held = await this.o.leases.acquire(OFFSET_MIRROR_LEASE);
    if (!held) {
      // Another node mirrors; if this one takes over later it writes everything once.
      this.held = undefined;
      this.written.clear();
      return;
    }
    if (this.held?.epoch !== held.epoch) this.written.clear();
    this.held = held;
    const rows = await this.o.db.select().from(groupOffsets);
    const changed = new Map<string, Array<{ topicId: string; partition: number; offset: number; key: string }>>();
    for (const r of rows) {
      const topicId = this.o.topicId(r.topic);
      if (topicId === undefined) continue;
      const key = `${r.groupName}\0${topicId}\0${r.partition}`;
      if (this.written.get(key) === r.offset) continue;
      let list = changed.get(r.groupName);
      if (!list) changed.set(r.groupName, (list = []));
      list.push({ topicId, partition: r.partition, offset: r.offset, key });
    }
    for (const [group, offsets] of changed) {
      const kafkaGroup = `${this.o.groupPrefix}${group}`;
      try {
        await this.o.mirror(kafkaGroup, offsets);
        for (const x of offsets) this.written.set(x.key, x.offset);
        if (this.refused.delete(group))
          this.o.logger.info({ group, kafka_group: kafkaGroup }, 'group offsets mirrored to Kafka again');
      } catch (e) {
        if (!this.refused.has(group)) {
          this.refused.add(group);
          this.o.logger.warn(
            { err: e, group, kafka_group: kafkaGroup },
            'Kafka refused the mirrored offsets of this group (does a Kafka consumer group of that name have members?); retrying each interval',
          );
        }
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    if (this.held) await this.o.leases.release(OFFSET_MIRROR_LEASE).catch(() => undefined);
    this.held = undefined;
  }
}
