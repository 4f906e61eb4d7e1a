// What every scenario module receives from the runner: the mode and its sizes, the running
// Sluice server, the baseline and peer servers (or why they're missing), and a logger.
import type { Pool } from 'undici';
import type { Child } from './processes.js';
import type { ScenarioResult } from './report.js';
import type { SluiceServer } from './sluice-server.js';

export interface HttpTarget {
  readonly url: string;
  readonly pool: Pool;
  readonly child: Child;
}

export interface BenchContext {
  readonly quick: boolean;
  readonly sluice: SluiceServer;
  /** Keep-alive pool to Sluice (a few connections). */
  readonly sluicePool: Pool;
  /** Bare hono JSON-parse / hello-world ceiling server. */
  readonly ceiling: HttpTarget | null;
  /** Durable Streams reference server (file-backed), or null with `dsSkip` saying why. */
  readonly ds: HttpTarget | null;
  readonly dsSkip?: string;
  /** Include the Kafka peer (false when --no-kafka). */
  readonly kafka: boolean;
  log(message: string): void;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

/** Topic names unique to this run, so scenarios never read each other's records. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}
