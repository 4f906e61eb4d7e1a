// Preloaded (node --import) into every benchmarked server: samples event-loop delay and RSS
// and writes them to BENCH_PROBE_FILE each second, so the runner can read server-side health.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFileSync, renameSync } from 'node:fs';

const file = process.env.BENCH_PROBE_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  let peakRss = 0;
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    peakRss = Math.max(peakRss, rss);
    const sample = {
      at: Date.now(),
      rssBytes: rss,
      peakRssBytes: peakRss,
      loopDelayP50Ms: h.percentile(50) / 1e6,
      loopDelayP99Ms: h.percentile(99) / 1e6,
      loopDelayMaxMs: h.max / 1e6,
    };
    // Written whole then renamed, so a reader never sees half a sample.
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(sample));
      renameSync(`${file}.tmp`, file);
    } catch {
      /* the runner may have removed the directory while we exit */
    }
  }, 1000);
  timer.unref();
  // The runner resets the window between phases by signalling SIGUSR2.
  process.on('SIGUSR2', () => {
    h.reset();
    peakRss = 0;
  });
}
