// Pairs DATA_DIR with its metadata database: both hold the same cluster id, so pointing
// Sluice at the wrong database (or the wrong data directory) stops start-up, not the data.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { MetadataDb } from './connection.js';
import { cluster } from './schema.js';

export const CLUSTER_ID_FILE = 'cluster-id';

export class ClusterMismatchError extends Error {
  override name = 'ClusterMismatchError';
}

/**
 * Establish or verify the cluster id. `dataDir` null means the log keeps no files (memory
 * store), so only the database side is checked. Returns the id and whether the data
 * directory is known to belong to this database (safe to delete orphaned log data).
 */
export async function ensureClusterIdentity(
  db: MetadataDb,
  dataDir: string | null,
): Promise<{ clusterId: string; dataDirVerified: boolean }> {
  const rows = await db.select().from(cluster).limit(2);
  if (rows.length > 1) throw new ClusterMismatchError('metadata database has more than one cluster row');
  const fileId = dataDir === null ? null : await readIdFile(dataDir);
  const dbId = rows[0]?.id ?? null;

  if (dbId === null) {
    if (fileId !== null) {
      throw new ClusterMismatchError(
        `DATA_DIR ${dataDir} holds data of cluster ${fileId}, but the metadata database is empty. ` +
          'Is DATABASE_URL pointing at the right database? To start afresh, empty DATA_DIR.',
      );
    }
    const id = randomUUID();
    await db.insert(cluster).values({ id, createdAt: Date.now() });
    if (dataDir !== null) await writeIdFile(dataDir, id);
    return { clusterId: id, dataDirVerified: true };
  }
  if (fileId === null) {
    // A new (or wiped) data directory for an existing database: adopt it.
    if (dataDir !== null) await writeIdFile(dataDir, dbId);
    return { clusterId: dbId, dataDirVerified: false };
  }
  if (fileId !== dbId) {
    throw new ClusterMismatchError(
      `DATA_DIR ${dataDir} belongs to cluster ${fileId} but the metadata database belongs to cluster ${dbId}; ` +
        'refusing to start so neither is damaged. Check DATA_DIR and DATABASE_URL.',
    );
  }
  return { clusterId: dbId, dataDirVerified: true };
}

async function readIdFile(dataDir: string): Promise<string | null> {
  try {
    return (await fs.readFile(path.join(dataDir, CLUSTER_ID_FILE), 'utf8')).trim() || null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** tmp → fsync → rename → fsync dir, like every other checkpoint under DATA_DIR. */
async function writeIdFile(dataDir: string, id: string): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true });
  const target = path.join(dataDir, CLUSTER_ID_FILE);
  const tmp = `${target}.tmp`;
  const fh = await fs.open(tmp, 'w');
  try {
    await fh.writeFile(`${id}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, target);
  const dir = await fs.open(dataDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
