// Shared plumbing of the group operations: settings, the clock, and `inGroupTx`, which looks
// topics up, opens a transaction, locks and settles the group, and wakes waiters afterwards.
import type { ConsumerGroupRow, GroupMemberRow } from '../metadata/schema/groups.js';
import type { MetadataDb } from '../metadata/connection.js';
import { settle, TopicViewStale, type GroupSnapshot, type TopicView } from './group-coordinator.js';
import * as repo from './group-repository.js';
import type { GroupSignals } from './group-signals.js';
import type { GroupTopics } from './ports.js';

export interface GroupsSettings {
  /** Joins within this window share one rebalance (one generation bump). */
  rebalanceDelayMs: number;
  /** How often the background sweeper looks for expired members and due rebalances. */
  sweepIntervalMs: number;
  /** Upper bound for a fetch's wait_ms. */
  longPollMaxMs: number;
  /**
   * Only this process writes the group tables (the embedded database, which no other process
   * can open): every generation change is made here and signalled (GroupSignals) once
   * committed, so a signal count that did not move proves the generation did not either,
   * without a query. False for a shared Postgres, where other nodes rebalance unseen.
   */
  soleWriter: boolean;
}

export const defaultGroupsSettings: GroupsSettings = {
  rebalanceDelayMs: 100,
  sweepIntervalMs: 1_000,
  longPollMaxMs: 30_000,
  soleWriter: false,
};

export interface GroupContext {
  readonly db: MetadataDb;
  /**
   * Topics each group's members subscribed to when last seen, to skip a query per operation.
   * Only a hint: a stale set is detected inside the transaction (TopicViewStale) and refreshed.
   */
  readonly subscriptions: Map<string, readonly string[]>;
  readonly topics: GroupTopics;
  readonly signals: GroupSignals;
  readonly settings: GroupsSettings;
  readonly now: () => number;
}

export interface GroupTxScope {
  tx: repo.Db;
  snapshot: GroupSnapshot;
  topics: TopicView;
  now: number;
  /** Settle again after `fn` changed membership (a leave forces a rebalance). */
  resettle: (force: boolean) => Promise<GroupSnapshot>;
}

export interface InGroupTxOptions {
  /** Create the group row when missing (joins, admin commits, resets). */
  create?: boolean;
  /** Topics the operation itself needs besides the members' subscriptions. */
  extraTopics?: readonly string[];
  /** Rebalance even if nothing else asks for it (a leave). */
  force?: boolean;
}

/**
 * Run `fn` on a settled, locked group inside one transaction. Returns `undefined` when the
 * group does not exist and `create` is false. Wakes this node's waiters if the generation
 * moved. Retries when a concurrent join subscribed to a topic not looked up beforehand.
 */
export async function inGroupTx<T>(
  ctx: GroupContext,
  group: string,
  options: InGroupTxOptions,
  fn: (scope: GroupTxScope) => Promise<T>,
): Promise<{ value: T; snapshot: GroupSnapshot } | undefined> {
  for (let attempt = 0; ; attempt++) {
    const cached = attempt === 0 ? ctx.subscriptions.get(group) : undefined;
    const subscribed = cached ?? (await repo.subscribedTopics(ctx.db, group));
    const names = new Set([...subscribed, ...(options.extraTopics ?? [])]);
    const looked: TopicView = { requested: names, found: await ctx.topics.lookup([...names]) };
    let bumped = false;
    try {
      const out = await ctx.db.transaction(async (tx) => {
        const now = ctx.now();
        let row: ConsumerGroupRow | undefined;
        let members: GroupMemberRow[] | undefined;
        if (options.create) row = await repo.lockOrCreateGroup(tx, group, now);
        else if (ctx.settings.soleWriter) ({ row, members } = (await repo.lockGroupWithMembers(tx, group)) ?? {});
        else row = await repo.lockGroup(tx, group);
        if (!row) return undefined;
        // A topic deleted (and perhaps re-created) since the lookup had the group's offsets and
        // positions on it forgotten under this lock: anything worked out from its old log now
        // (an assignment, a position) would apply to the new topic of the name.
        const topics = currentTopics(looked);
        let snapshot = await settle(tx, row, topics, now, { force: options.force === true, members });
        bumped = snapshot.rebalanced;
        remember(ctx, group, snapshot);
        const resettle = async (force: boolean): Promise<GroupSnapshot> => {
          const fresh = await repo.lockGroup(tx, group);
          if (!fresh) throw new Error(`group row "${group}" vanished inside its own transaction`);
          snapshot = await settle(tx, fresh, topics, now, { force });
          bumped ||= snapshot.rebalanced;
          remember(ctx, group, snapshot);
          return snapshot;
        };
        const value = await fn({ tx, snapshot, topics, now, resettle });
        return { value, snapshot };
      });
      if (bumped) ctx.signals.notify(group);
      return out;
    } catch (error) {
      if (error instanceof TopicViewStale && attempt < 5) continue;
      throw error;
    }
  }
}

/** The view without topics whose name no longer means the topic looked up. */
function currentTopics(view: TopicView): TopicView {
  const found = new Map([...view.found].filter(([, handle]) => handle.isCurrent()));
  return found.size === view.found.size ? view : { requested: view.requested, found };
}

function remember(ctx: GroupContext, group: string, snapshot: GroupSnapshot): void {
  if (snapshot.members.length === 0) ctx.subscriptions.delete(group);
  else ctx.subscriptions.set(group, [...new Set(snapshot.members.flatMap((m) => m.topics))]);
}

/** Settle one group now (sweeper and coalesced joins); true if the generation moved. */
export async function settleGroup(ctx: GroupContext, group: string): Promise<boolean> {
  const out = await inGroupTx(ctx, group, {}, async () => undefined);
  return out?.snapshot.rebalanced ?? false;
}
