// Background sweeper: finds members past their session deadline and coalesced rebalances that
// came due, and settles those groups. Lazy checks on every group call cover the rest.
import { settleGroup, type GroupContext } from './group-context.js';
import { groupsNeedingSettle } from './group-repository.js';

export interface SweeperLogger {
  warn(obj: object, msg: string): void;
}

/** Runs `sweepOnce` every interval on an unref'd timer; never overlaps itself. */
export class SessionSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly ctx: GroupContext,
    private readonly logger?: SweeperLogger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweepOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.logger?.warn({ err: error }, 'group session sweep failed; will retry'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.ctx.settings.sweepIntervalMs);
    this.timer.unref();
  }

  /** Settle every group that needs it now; returns the groups whose generation moved. */
  async sweepOnce(): Promise<string[]> {
    const moved: string[] = [];
    for (const group of await groupsNeedingSettle(this.ctx.db, this.ctx.now())) {
      if (await settleGroup(this.ctx, group)) moved.push(group);
    }
    return moved;
  }

  /** Stop the timer and wait for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
