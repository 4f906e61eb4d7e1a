// Unit tests of the overview service with fake sources: a first snapshot's rate history never
// holds a sample taken after the snapshot itself, however long building it took.
import { afterEach, describe, expect, it } from 'vitest';
import { OverviewService, type Overview, type OverviewSources } from './overview-service.js';

const services: OverviewService[] = [];
afterEach(() => {
  for (const s of services.splice(0)) s.stop();
});

describe('OverviewService', () => {
  it('the history sent with a first snapshot ends at the snapshot, even when samples were taken while it was built', async () => {
    let recordsIn = 0;
    let releaseGroups: (() => void) | undefined;
    let groupsAsked: () => void = () => undefined;
    const asked = new Promise<void>((resolve) => (groupsAsked = resolve));
    const sources: OverviewSources = {
      topics: () => [],
      partition: () => undefined,
      // The first snapshot's groups answer only when the test says so.
      groups: () =>
        new Promise((resolve) => {
          releaseGroups = () => resolve([]);
          groupsAsked();
        }),
      webhooks: async () => [],
      health: async () => ({ status: 'ready', database_ok: true, quarantined: [], read_only: [], reasons: [] }),
      totals: () => ({ recordsIn: (recordsIn += 10), bytesIn: 0, recordsRead: 0, bytesOut: 0, sseStreams: 0 }),
      now: () => Date.now(),
    };
    const overview = new OverviewService(sources, 20);
    services.push(overview);
    overview.start();
    // A few samples before anyone watches.
    await new Promise((r) => setTimeout(r, 100));
    const got: Overview[] = [];
    const unsubscribe = overview.subscribe((o) => got.push(o));
    await asked;
    // The sampler goes on while the snapshot waits for its groups.
    await new Promise((r) => setTimeout(r, 100));
    releaseGroups!();
    const deadline = Date.now() + 5_000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    unsubscribe();
    const first = got[0]!;
    expect(first.history?.at.length).toBeGreaterThan(0);
    expect(first.history?.at.filter((t) => t > first.at)).toEqual([]);
  });
});
