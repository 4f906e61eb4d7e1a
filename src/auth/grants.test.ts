// Unit tests of grant matching (literal, `*`, prefixed) and of the no-escalation rule.
import { describe, expect, it } from 'vitest';
import { allows, allowsSome, uncovered, type Grant } from './grants.js';

const g = (
  resource: Grant['resource'],
  name: string,
  actions: Grant['actions'],
  pattern: Grant['pattern'] = 'literal',
): Grant => ({
  resource,
  name,
  pattern,
  actions,
});

describe('allows', () => {
  it('denies by default and matches literal, * and prefixed names per resource and action', () => {
    expect(allows([], 'topic', 'orders', 'read')).toBe(false);
    expect(allows([g('topic', 'orders', ['read'])], 'topic', 'orders', 'read')).toBe(true);
    expect(allows([g('topic', 'orders', ['read'])], 'topic', 'orders2', 'read')).toBe(false);
    expect(allows([g('topic', 'orders', ['read'])], 'topic', 'orders', 'write')).toBe(false);
    expect(allows([g('topic', 'orders', ['read'])], 'group', 'orders', 'read')).toBe(false);
    expect(allows([g('topic', '*', ['read'])], 'topic', 'anything', 'read')).toBe(true);
    expect(allows([g('topic', 'a.', ['read'], 'prefixed')], 'topic', 'a.b', 'read')).toBe(true);
    expect(allows([g('topic', 'a.', ['read'], 'prefixed')], 'topic', 'ab', 'read')).toBe(false);
    expect(allows([g('topic', '*', ['read'], 'prefixed')], 'topic', 'x', 'read')).toBe(false);
    expect(allowsSome([g('topic', 'a.', ['describe'], 'prefixed')], 'topic', 'describe')).toBe(true);
    expect(allowsSome([g('topic', 'a.', ['read'], 'prefixed')], 'topic', 'describe')).toBe(false);
  });
});

describe('uncovered (no escalation)', () => {
  const held = [g('topic', 'team.', ['read', 'write'], 'prefixed'), g('group', 'g1', ['read'])];
  it('accepts subsets: fewer actions, literal names or longer prefixes inside a prefix', () => {
    expect(uncovered(held, [])).toBeNull();
    expect(uncovered(held, [g('topic', 'team.orders', ['read'])])).toBeNull();
    expect(uncovered(held, [g('topic', 'team.a.', ['write'], 'prefixed')])).toBeNull();
    expect(uncovered(held, [g('group', 'g1', ['read'])])).toBeNull();
    expect(uncovered([g('topic', '*', ['read'])], [g('topic', 'x', ['read'], 'prefixed')])).toBeNull();
  });
  it('refuses anything wider', () => {
    expect(uncovered(held, [g('topic', 'team.orders', ['delete'])])).not.toBeNull();
    expect(uncovered(held, [g('topic', 'other', ['read'])])).not.toBeNull();
    expect(uncovered(held, [g('topic', 'tea', ['read'], 'prefixed')])).not.toBeNull();
    expect(uncovered(held, [g('topic', '*', ['read'])])).not.toBeNull();
    expect(uncovered(held, [g('group', 'g1', ['read'], 'prefixed')])).not.toBeNull();
    expect(uncovered(held, [g('key', 'k', ['create'])])).not.toBeNull();
  });
});
