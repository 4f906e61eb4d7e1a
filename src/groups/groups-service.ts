// The consumer-groups service: membership, fetch, commit and administration behind one
// facade returning Results. All coordination state lives in Postgres; see group-context.ts.
import type { Result } from '../lib/result.js';
import type { MetadataDb } from '../metadata/connection.js';
import * as admin from './group-admin.js';
import { defaultGroupsSettings, settleGroup, type GroupContext, type GroupsSettings } from './group-context.js';
import type { GroupError } from './group-errors.js';
import { GroupSignals } from './group-signals.js';
import { fetchRecords, type FetchRequest, type FetchResult } from './member-fetch.js';
import * as membership from './membership.js';
import type { CursorEntry } from './group-cursor.js';
import { commitCursor, commitOffsets, type CommitRequest } from './offset-commit.js';
import type { GroupTopics } from './ports.js';
import { SessionSweeper, type SweeperLogger } from './session-sweeper.js';

export type { GroupError } from './group-errors.js';
export type { JoinRequest, MemberView, AutoOffsetReset } from './membership.js';
export type { FetchRequest, FetchResult, PositionGap } from './member-fetch.js';
export type { CursorEntry } from './group-cursor.js';
export type { CommitRequest } from './offset-commit.js';
export type { GroupDescription, GroupSummary, ResetRequest, ResetTarget } from './group-admin.js';

export interface GroupsServiceOptions {
  db: MetadataDb;
  topics: GroupTopics;
  settings?: Partial<GroupsSettings>;
  logger?: SweeperLogger;
  /** Clock (Unix ms); tests may move it. */
  now?: () => number;
}

export class GroupsService {
  private readonly ctx: GroupContext;
  private readonly sweeper: SessionSweeper;

  constructor(options: GroupsServiceOptions) {
    this.ctx = {
      db: options.db,
      topics: options.topics,
      signals: new GroupSignals(),
      subscriptions: new Map(),
      settings: { ...defaultGroupsSettings, ...options.settings },
      now: options.now ?? Date.now,
    };
    this.sweeper = new SessionSweeper(this.ctx, options.logger);
  }

  get settings(): GroupsSettings {
    return this.ctx.settings;
  }

  join(group: string, req: membership.JoinRequest): Promise<Result<membership.MemberView, GroupError>> {
    return membership.join(this.ctx, group, req);
  }

  heartbeat(group: string, memberId: string): Promise<Result<membership.MemberView, GroupError>> {
    return membership.heartbeat(this.ctx, group, memberId);
  }

  /** `confirm`: the cursor of the last answer the member received (committed with auto_commit). */
  leave(
    group: string,
    memberId: string,
    options: { confirm?: readonly CursorEntry[] | undefined; refuseTopic?: FetchRequest['refuseTopic'] } = {},
  ): Promise<Result<void, GroupError>> {
    return membership.leave(this.ctx, group, memberId, options);
  }

  fetch(group: string, memberId: string, req: FetchRequest): Promise<Result<FetchResult, GroupError>> {
    return fetchRecords(this.ctx, group, memberId, req);
  }

  commit(group: string, req: CommitRequest): Promise<Result<void, GroupError>> {
    return commitOffsets(this.ctx, group, req);
  }

  /**
   * Commit what a group SSE client confirmed with its reconnect's Last-Event-ID: forward only
   * (never below an offset already committed), for the named topics' partitions in the cursor.
   */
  commitCursor(group: string, topics: readonly string[], entries: readonly CursorEntry[]): Promise<void> {
    return commitCursor(this.ctx, group, topics, entries);
  }

  list(): Promise<admin.GroupSummary[]> {
    return admin.listGroups(this.ctx);
  }

  describe(group: string): Promise<Result<admin.GroupDescription, GroupError>> {
    return admin.describeGroup(this.ctx, group);
  }

  delete(group: string): Promise<Result<void, GroupError>> {
    return admin.deleteGroup(this.ctx, group);
  }

  resetOffsets(
    group: string,
    req: admin.ResetRequest,
  ): Promise<Result<Array<{ topic: string; partition: number; offset: number }>, GroupError>> {
    return admin.resetOffsets(this.ctx, group, req);
  }

  /** Wake on the group's next change on this node (SSE members); returns an unsubscribe. */
  onChange(group: string, fn: () => void): () => void {
    return this.ctx.signals.once(group, fn);
  }

  /**
   * A topic was deleted or gained partitions: settle now the groups this node serves that
   * subscribe to it, so their waiting fetches and SSE members get the new assignment at once
   * rather than at their long-poll's timer. Other groups settle at their next step, as before.
   */
  async topicChanged(topic: string): Promise<void> {
    const affected = [...this.ctx.subscriptions].filter(([, topics]) => topics.includes(topic)).map(([g]) => g);
    for (const group of affected) await settleGroup(this.ctx, group);
  }

  /** Expire sessions and run due rebalances now (the sweeper does this on a timer). */
  sweep(): Promise<string[]> {
    return this.sweeper.sweepOnce();
  }

  startSweeper(): void {
    this.sweeper.start();
  }

  stop(): Promise<void> {
    return this.sweeper.stop();
  }
}
