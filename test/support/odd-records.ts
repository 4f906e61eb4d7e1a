// Records the produce path refuses but a log may still hold (written before a limit existed,
// or by another writer): appended straight to the log store, for read-path robustness tests.
import type { RecordInput } from '../../src/log/index.js';
import type { Services } from '../../src/services.js';

/** Nesting depth of the JSON value that a deep record holds. */
export const DEEP = 5000;

/** `[[[…{"a":{"a":…1…}}…]]]`, DEEP levels, with a line break in the middle. */
export const deepJsonText = `${'['.repeat(DEEP / 2)}\n${'{"a":'.repeat(DEEP / 2)}1${'}'.repeat(DEEP / 2)}${']'.repeat(DEEP / 2)}`;

/** Bytes that are not JSON text at all (a truncated object), stored as a json value. */
export const notJsonBytes = Buffer.from('{"a": [1, 2', 'utf8');

const input = (value: Buffer): RecordInput => ({ key: null, value, headers: [], timestamp: Date.now() });

/** Append a deep value and a non-JSON value to partition `partition` of `topic`, directly. */
export async function appendOddRecords(services: Services, topic: string, partition = 0): Promise<void> {
  const found = services.topics.partitionLog(topic, partition);
  if (!found.ok) throw new Error(found.error.message);
  const appended = await found.value.log.append([input(Buffer.from(deepJsonText)), input(notJsonBytes)], {
    durability: 'write',
  });
  if (!appended.ok) throw new Error(`append failed: ${appended.error.reason}`);
}

/** Nesting depth of a parsed value, without recursion (vitest's deep equality would overflow). */
export function depthOf(value: unknown): number {
  let depth = 0;
  let node = value;
  while (typeof node === 'object' && node !== null) {
    depth++;
    node = Array.isArray(node) ? node[0] : (node as Record<string, unknown>)['a'];
  }
  return depth;
}
