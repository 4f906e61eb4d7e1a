// Sticky partition assignor for consumer groups: a pure function from (partitions, members,
// current owners) to a new assignment that keeps every valid ownership and moves the fewest.

/** A topic partition, as assigned to group members. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A member as the assignor sees it: an id and the topics it subscribes to. */
export interface AssignorMember {
  id: string;
  topics: readonly string[];
}

export interface AssignInput {
  /** Every partition of every subscribed topic that exists now. */
  partitions: readonly TopicPartition[];
  /** The members of the next generation. */
  members: readonly AssignorMember[];
  /** Who owned what in the previous generation (members may be gone, partitions too). */
  current: ReadonlyMap<string, readonly TopicPartition[]>;
}

/** memberId → its partitions, sorted by topic then partition. Every member has an entry. */
export type Assignment = Map<string, TopicPartition[]>;

const keyOf = (tp: TopicPartition): string => `${tp.topic}\u0000${tp.partition}`;

/** Total order used everywhere so the result never depends on input order. */
export function compareTopicPartition(a: TopicPartition, b: TopicPartition): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  return a.partition - b.partition;
}

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Compute the next generation's assignment.
 *
 * 1. Every partition a surviving, still-subscribed member owned stays with it (a partition
 *    claimed twice stays with the smallest member id, so a corrupt input cannot yield two
 *    owners).
 * 2. Unowned partitions go, one by one, to the least-loaded eligible member — the partitions
 *    with the fewest eligible members first, so narrow subscriptions are served before the
 *    flexible ones take their share.
 * 3. While some partition could move from a member to an eligible member holding at least two
 *    fewer, move it (largest donor to smallest receiver). Each move strictly lowers the sum of
 *    squared loads, so this ends; with identical subscriptions it ends with loads differing by
 *    at most one, having moved only what balance requires.
 *
 * Deterministic: the same input (in any order) yields the same output.
 */
export function assign(input: AssignInput): Assignment {
  const members = [...input.members].sort((a, b) => compareIds(a.id, b.id));
  const subscribers = new Map<string, string[]>(); // topic → member ids (sorted)
  const topicsOf = new Map<string, Set<string>>();
  for (const m of members) {
    topicsOf.set(m.id, new Set(m.topics));
    for (const t of new Set(m.topics)) {
      const list = subscribers.get(t) ?? [];
      list.push(m.id);
      subscribers.set(t, list);
    }
  }

  const partitions = dedupe(input.partitions).filter((tp) => subscribers.has(tp.topic));
  const exists = new Set(partitions.map(keyOf));
  const owned = new Map<string, Map<string, TopicPartition>>(); // member → key → tp
  for (const m of members) owned.set(m.id, new Map());
  const ownerOf = new Map<string, string>();

  // 1. Keep valid current ownership.
  const previousOwners = [...input.current.keys()].sort(compareIds);
  for (const memberId of previousOwners) {
    const mine = owned.get(memberId);
    const topics = topicsOf.get(memberId);
    if (!mine || !topics) continue;
    for (const tp of input.current.get(memberId) ?? []) {
      const k = keyOf(tp);
      if (!exists.has(k) || ownerOf.has(k) || !topics.has(tp.topic)) continue;
      ownerOf.set(k, memberId);
      mine.set(k, { topic: tp.topic, partition: tp.partition });
    }
  }

  // 2. Place unowned partitions on the least-loaded eligible member.
  const unowned = partitions.filter((tp) => !ownerOf.has(keyOf(tp)));
  unowned.sort((a, b) => {
    const ea = subscribers.get(a.topic)?.length ?? 0;
    const eb = subscribers.get(b.topic)?.length ?? 0;
    return ea - eb || compareTopicPartition(a, b);
  });
  for (const tp of unowned) {
    const eligible = subscribers.get(tp.topic) ?? [];
    let best: string | undefined;
    for (const id of eligible) {
      if (best === undefined || load(owned, id) < load(owned, best)) best = id;
    }
    if (best === undefined) continue;
    ownerOf.set(keyOf(tp), best);
    owned.get(best)?.set(keyOf(tp), tp);
  }

  // 3. Even out loads with as few moves as possible.
  balance(
    members.map((m) => m.id),
    owned,
    topicsOf,
  );

  const result: Assignment = new Map();
  for (const m of members) {
    result.set(m.id, [...(owned.get(m.id)?.values() ?? [])].sort(compareTopicPartition));
  }
  return result;
}

function load(owned: Map<string, Map<string, TopicPartition>>, id: string): number {
  return owned.get(id)?.size ?? 0;
}

function dedupe(partitions: readonly TopicPartition[]): TopicPartition[] {
  const seen = new Map<string, TopicPartition>();
  for (const tp of partitions) seen.set(keyOf(tp), { topic: tp.topic, partition: tp.partition });
  return [...seen.values()].sort(compareTopicPartition);
}

function balance(
  ids: string[],
  owned: Map<string, Map<string, TopicPartition>>,
  topicsOf: Map<string, Set<string>>,
): void {
  for (;;) {
    // Donors heaviest first, receivers lightest first; ties by id keep it deterministic.
    const byLoad = [...ids].sort((a, b) => load(owned, a) - load(owned, b) || compareIds(a, b));
    let moved = false;
    for (let d = byLoad.length - 1; d >= 0 && !moved; d--) {
      const donor = byLoad[d] as string;
      for (let r = 0; r < d && !moved; r++) {
        const receiver = byLoad[r] as string;
        if (load(owned, donor) - load(owned, receiver) < 2) break;
        const wanted = topicsOf.get(receiver);
        const donorParts = owned.get(donor);
        if (!wanted || !donorParts) continue;
        // Give away the donor's highest partition the receiver can take.
        const candidates = [...donorParts.values()].filter((tp) => wanted.has(tp.topic)).sort(compareTopicPartition);
        const tp = candidates[candidates.length - 1];
        if (!tp) continue;
        donorParts.delete(keyOf(tp));
        owned.get(receiver)?.set(keyOf(tp), tp);
        moved = true;
      }
    }
    if (!moved) return;
  }
}

/** Partitions that had an owner before and have a different one after (for metrics and tests). */
export function movedPartitions(
  before: ReadonlyMap<string, readonly TopicPartition[]>,
  after: ReadonlyMap<string, readonly TopicPartition[]>,
): TopicPartition[] {
  const prev = new Map<string, string>();
  for (const [id, tps] of before) for (const tp of tps) prev.set(keyOf(tp), id);
  const moved: TopicPartition[] = [];
  for (const [id, tps] of after) {
    for (const tp of tps) {
      const owner = prev.get(keyOf(tp));
      if (owner !== undefined && owner !== id) moved.push(tp);
    }
  }
  return moved.sort(compareTopicPartition);
}
