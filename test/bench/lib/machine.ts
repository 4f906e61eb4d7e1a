// Describes the machine a benchmark ran on (cores, CPU model, memory, Node, load) so every
// table and JSON result says where its numbers come from.
import os from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  platform: string;
  kernel: string;
  /** 1-minute load average when the run started: other work on a shared box skews numbers. */
  loadAvg1m: number;
  note: string;
}

export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()}-${os.arch()}`,
    kernel: os.release(),
    loadAvg1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    note:
      `Numbers come from a shared ${os.availableParallelism()}-core machine: the load generator, Sluice, the baselines and the peers ` +
      'share these cores with each other and with other work (see the load average), so absolute numbers are noisy; ' +
      'ratios measured side by side in the same run are the meaningful part.',
  };
}

export function machineLine(m: MachineInfo): string {
  return `${m.nproc} cores (${m.cpuModel}), ${m.memGiB} GiB, Node ${m.node}, ${m.platform} ${m.kernel}, load ${m.loadAvg1m} at start`;
}
