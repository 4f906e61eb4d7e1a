// Unit tests of the Host policy: when it applies (loopback listen address or configured names),
// which names pass, and how Host headers with ports and brackets are read.
import { describe, expect, it } from 'vitest';
import { hostName, hostPolicy, isLoopbackHost } from './host-check.js';

describe('hostPolicy', () => {
  it('applies on loopback listen addresses, not on 0.0.0.0 unless names are configured; `*` turns it off', () => {
    expect(hostPolicy('127.0.0.1', [])).not.toBeNull();
    expect(hostPolicy('::1', [])).not.toBeNull();
    expect(hostPolicy('localhost', [])).not.toBeNull();
    expect(hostPolicy('0.0.0.0', [])).toBeNull();
    expect(hostPolicy('0.0.0.0', ['sluice.example.com'])).not.toBeNull();
    expect(hostPolicy('127.0.0.1', ['*'])).toBeNull();
  });

  it('accepts loopback names, the listen address and listed names only', () => {
    const allowed = hostPolicy('127.0.0.2', ['sluice.internal', '*.example.test'])!;
    for (const ok of [
      'localhost',
      'x.localhost',
      '127.0.0.1',
      '127.9.9.9',
      '::1',
      '127.0.0.2',
      'sluice.internal',
      'a.b.example.test',
    ])
      expect(allowed(ok), ok).toBe(true);
    for (const bad of ['evil.example', '10.0.0.1', 'example.test', 'sluice.internal.evil', 'localhost.evil', '::2'])
      expect(allowed(bad), bad).toBe(false);
    const open = hostPolicy('0.0.0.0', ['sluice.example.com'])!;
    expect(open('sluice.example.com')).toBe(true);
    expect(open('203.0.113.7')).toBe(false);
  });

  it('reads Host headers', () => {
    expect(hostName('Example.COM.:8080')).toBe('example.com');
    expect(hostName('[::1]:80')).toBe('::1');
    expect(hostName('127.0.0.1')).toBe('127.0.0.1');
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('::ffff:127.0.0.1')).toBe(true);
  });
});
