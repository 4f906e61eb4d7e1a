// Unit tests of the webhook URL policy: schemes, always-refused link-local/metadata addresses,
// the private-address switch, the allowlist, and the connect-time lookup guard.
import dns from 'node:dns';
import { describe, expect, it, vi } from 'vitest';
import { UrlPolicy } from './url-policy.js';

const strict = new UrlPolicy({ allowPrivate: false, allowHosts: [] });
const loose = new UrlPolicy({ allowPrivate: true, allowHosts: [] });

describe('UrlPolicy.checkUrl', () => {
  it('accepts public http(s) URLs', () => {
    expect(strict.checkUrl('https://hooks.example.com/a?b=c').ok).toBe(true);
    expect(strict.checkUrl('http://93.184.216.34:8080/x').ok).toBe(true);
  });

  it('refuses other schemes, credentials, fragments and overlong URLs', () => {
    for (const url of [
      'ftp://example.com/',
      'file:///etc/passwd',
      'http://u:p@example.com/',
      'http://example.com/#x',
      `http://example.com/${'a'.repeat(3000)}`,
    ]) {
      expect(strict.checkUrl(url).ok, url).toBe(false);
    }
  });

  it('always refuses link-local and cloud-metadata addresses, even with private allowed or listed', () => {
    const listed = new UrlPolicy({ allowPrivate: true, allowHosts: ['169.254.0.0/16', 'fe80::/10'] });
    for (const policy of [strict, loose, listed]) {
      for (const url of [
        'http://169.254.169.254/latest/meta-data/',
        'http://[fe80::1]/',
        'http://[::ffff:169.254.169.254]/',
        'http://[fd00:ec2::254]/',
        'http://100.100.100.200/',
        'http://metadata.google.internal/computeMetadata/v1/',
      ]) {
        expect(policy.checkUrl(url).ok, url).toBe(false);
      }
    }
  });

  it('refuses loopback and private addresses unless allowed', () => {
    for (const url of [
      'http://127.0.0.1:8080/',
      'http://10.1.2.3/',
      'http://192.168.0.1/',
      'http://[::1]/',
      'http://0.0.0.0/',
    ]) {
      const refused = strict.checkUrl(url);
      expect(refused.ok, url).toBe(false);
      if (!refused.ok) expect(refused.error).toMatch(/SLUICE_WEBHOOK_ALLOW_PRIVATE/);
      expect(loose.checkUrl(url).ok, url).toBe(true);
    }
  });

  it('with an allowlist, only listed hosts and CIDRs pass (listed private CIDRs included)', () => {
    const policy = new UrlPolicy({ allowPrivate: false, allowHosts: ['*.example.com', 'hooks.test', '10.20.0.0/16'] });
    expect(policy.checkUrl('https://a.example.com/').ok).toBe(true);
    expect(policy.checkUrl('https://hooks.test/').ok).toBe(true);
    expect(policy.checkUrl('http://10.20.3.4/').ok).toBe(true);
    expect(policy.checkUrl('http://10.21.3.4/').ok).toBe(false);
    expect(policy.checkUrl('https://93.184.216.34/').ok).toBe(false);
    expect(policy.addressProblem('evil.org', '93.184.216.34')).toMatch(/ALLOW_HOSTS/);
  });

  it('rejects malformed allowlist entries at start-up', () => {
    expect(() => new UrlPolicy({ allowPrivate: false, allowHosts: ['10.0.0.0/99'] })).toThrow(
      /SLUICE_WEBHOOK_ALLOW_HOSTS/,
    );
    expect(() => new UrlPolicy({ allowPrivate: false, allowHosts: ['bad host!'] })).toThrow(
      /SLUICE_WEBHOOK_ALLOW_HOSTS/,
    );
  });
});

describe('UrlPolicy.lookup (connect time)', () => {
  const lookup = (policy: UrlPolicy, host: string) =>
    new Promise<{ error: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
      policy.lookup(host, {}, (error, address) => resolve({ error, address })),
    );

  it('refuses a name that resolves to a refused address', async () => {
    const refused = await lookup(strict, 'localhost');
    expect(refused.error?.message).toMatch(/loopback or private/);
    const allowed = await lookup(loose, 'localhost');
    expect(allowed.error).toBeNull();
  });
});

describe('IPv6 addresses that embed an IPv4 address are judged by the IPv4 inside', () => {
  // Each form written as a user would (dotted), and as the URL parser rewrites it (hex).
  const forms: Array<[form: string, embed: (v4: string) => string[]]> = [
    ['IPv4-compatible ::a.b.c.d', (v4) => [`::${v4}`, `::${hex(v4)}`]],
    ['IPv4-mapped ::ffff:a.b.c.d', (v4) => [`::ffff:${v4}`, `::ffff:${hex(v4)}`]],
    ['IPv4-translated ::ffff:0:a.b.c.d', (v4) => [`::ffff:0:${v4}`, `::ffff:0:${hex(v4)}`]],
    ['NAT64 64:ff9b::a.b.c.d', (v4) => [`64:ff9b::${v4}`, `64:ff9b::${hex(v4)}`]],
    ['6to4 2002:aabb:ccdd::', (v4) => [`2002:${hex(v4)}::1`, `2002:${hex(v4)}:0:0:0:0:1`]],
    ['Teredo 2001:0::/32 (client address obfuscated)', (v4) => [`2001:0:4136:e378:8000:63bf:${teredo(v4)}`]],
  ];

  for (const [form, embed] of forms) {
    it(`${form}: loopback/private refused unless allowed, metadata always refused, public accepted`, () => {
      for (const v6 of embed('127.0.0.1')) {
        const url = `http://[${v6}]/`;
        const refused = strict.checkUrl(url);
        expect(refused.ok, url).toBe(false);
        if (!refused.ok) expect(refused.error, url).toMatch(/127\.0\.0\.1.*loopback or private/);
        expect(strict.addressProblem('rebound.example', v6), v6).toMatch(/127\.0\.0\.1/);
        expect(loose.checkUrl(url).ok, url).toBe(true);
      }
      for (const v6 of embed('10.1.2.3')) expect(strict.checkUrl(`http://[${v6}]/`).ok, v6).toBe(false);
      for (const v6 of embed('169.254.169.254')) {
        expect(loose.checkUrl(`http://[${v6}]/`).ok, v6).toBe(false);
        expect(loose.addressProblem('rebound.example', v6), v6).toMatch(/link-local/);
      }
      for (const v6 of embed('93.184.216.34')) expect(strict.checkUrl(`http://[${v6}]/`).ok, v6).toBe(true);
    });
  }

  it('an allowlisted IPv4 CIDR admits the same address written in an embedding form', () => {
    const policy = new UrlPolicy({ allowPrivate: false, allowHosts: ['10.20.0.0/16'] });
    expect(policy.checkUrl('http://[::ffff:10.20.3.4]/').ok).toBe(true);
    expect(policy.checkUrl('http://[64:ff9b::10.20.3.4]/').ok).toBe(true);
    expect(policy.checkUrl('http://[64:ff9b::10.21.3.4]/').ok).toBe(false);
  });

  it('the NAT64 local-use prefix 64:ff9b:1::/48 counts as private', () => {
    expect(strict.checkUrl('http://[64:ff9b:1::5db8:d822]/').ok).toBe(false);
    expect(loose.checkUrl('http://[64:ff9b:1::5db8:d822]/').ok).toBe(true);
  });

  it('at connect time a name whose DNS answer is an embedding address is refused', async () => {
    const answer = [{ address: '64:ff9b::7f00:1', family: 6 }];
    const spy = vi
      .spyOn(dns, 'lookup')
      .mockImplementation(((_host: string, _options: unknown, callback: (e: null, a: typeof answer) => void) =>
        callback(null, answer)) as never);
    try {
      const result = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
        strict.lookup('rebound.example', {}, (error) => resolve(error)),
      );
      expect(result?.message).toMatch(/127\.0\.0\.1.*loopback or private/);
      expect((result as { code?: string } | null)?.code).toBe('EWEBHOOKADDRESS');
    } finally {
      spy.mockRestore();
    }
  });
});

/** `127.0.0.1` → `7f00:1` (two hex groups). */
function hex(v4: string): string {
  const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** Teredo stores the client's IPv4 address with every bit inverted. */
function teredo(v4: string): string {
  const [a, b, c, d] = v4.split('.').map((n) => 255 - Number(n)) as [number, number, number, number];
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}
