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

describe('the IANA special-purpose registries (table): not-globally-reachable ranges are refused', () => {
  // [address, how the default policy answers]: 'private' = refused unless SLUICE_WEBHOOK_ALLOW_PRIVATE
  // or an allowlist entry; 'never' = refused whatever the config; 'public' = allowed.
  const table: Array<[address: string, expected: 'private' | 'never' | 'public', range: string]> = [
    ['0.0.0.0', 'private', '0.0.0.0/8 "this network"'],
    ['0.1.2.3', 'private', '0.0.0.0/8 "this network"'],
    ['10.255.255.255', 'private', '10.0.0.0/8'],
    ['100.64.0.1', 'private', '100.64.0.0/10 shared (CGNAT)'],
    ['100.127.255.254', 'private', '100.64.0.0/10 shared (CGNAT)'],
    ['127.255.255.254', 'private', '127.0.0.0/8 loopback'],
    ['169.254.1.1', 'never', '169.254.0.0/16 link-local'],
    ['172.31.255.255', 'private', '172.16.0.0/12'],
    ['192.0.0.1', 'private', '192.0.0.0/24 IETF protocol assignments'],
    ['192.0.0.8', 'private', '192.0.0.0/24 IETF protocol assignments'],
    ['192.0.0.170', 'private', '192.0.0.0/24 (NAT64 discovery)'],
    ['192.0.2.10', 'private', '192.0.2.0/24 TEST-NET-1'],
    ['192.88.99.1', 'private', '192.88.99.0/24 deprecated 6to4 relay anycast'],
    ['192.168.255.255', 'private', '192.168.0.0/16'],
    ['198.18.0.1', 'private', '198.18.0.0/15 benchmarking'],
    ['198.19.255.255', 'private', '198.18.0.0/15 benchmarking'],
    ['198.51.100.7', 'private', '198.51.100.0/24 TEST-NET-2'],
    ['203.0.113.7', 'private', '203.0.113.0/24 TEST-NET-3'],
    ['224.0.0.1', 'never', '224.0.0.0/4 multicast'],
    ['240.0.0.1', 'never', '240.0.0.0/4 reserved'],
    ['255.255.255.255', 'never', 'limited broadcast'],
    // Just outside those ranges: ordinary public addresses.
    ['100.128.0.1', 'public', 'above 100.64.0.0/10'],
    ['192.0.1.1', 'public', 'between 192.0.0.0/24 and 192.0.2.0/24'],
    ['192.0.3.1', 'public', 'above 192.0.2.0/24'],
    ['198.20.0.1', 'public', 'above 198.18.0.0/15'],
    ['203.0.114.1', 'public', 'above 203.0.113.0/24'],
    ['8.8.8.8', 'public', 'public'],
    ['::', 'private', '::/128 unspecified'],
    ['::1', 'private', '::1/128 loopback'],
    ['::2', 'private', '::/104 IPv4-compatible 0.0.0.2'],
    ['::0.255.255.255', 'private', '::/104 IPv4-compatible 0.255.255.255'],
    ['::ffff:192.0.0.8', 'private', 'IPv4-mapped 192.0.0.0/24'],
    ['::ffff:198.51.100.1', 'private', 'IPv4-mapped TEST-NET-2'],
    ['::ffff:8.8.8.8', 'public', 'IPv4-mapped public'],
    ['64:ff9b::c000:0208', 'private', 'NAT64 of 192.0.2.8'],
    ['64:ff9b::a00:1', 'private', 'NAT64 of 10.0.0.1'],
    ['64:ff9b::808:808', 'public', 'NAT64 of 8.8.8.8'],
    ['64:ff9b:1::1', 'private', '64:ff9b:1::/48 local-use NAT64'],
    ['100::1', 'private', '100::/64 discard-only'],
    ['2001:2::1', 'private', '2001:2::/48 benchmarking'],
    ['2001:10::1', 'private', '2001:10::/28 deprecated ORCHID'],
    ['2001:db8::1', 'private', '2001:db8::/32 documentation'],
    ['2001:db8:ffff::1', 'private', '2001:db8::/32 documentation'],
    ['3fff::1', 'private', '3fff::/20 documentation'],
    ['5f00::1', 'private', '5f00::/16 SRv6 SIDs'],
    ['fc00::1', 'private', 'fc00::/7 unique local'],
    ['fdff:ffff::1', 'private', 'fc00::/7 unique local'],
    ['fe80::1', 'never', 'fe80::/10 link-local'],
    ['febf::1', 'never', 'fe80::/10 link-local'],
    ['fec0::1', 'private', 'fec0::/10 deprecated site-local'],
    ['ff02::1', 'never', 'ff00::/8 multicast'],
    ['2606:4700:4700::1111', 'public', 'public'],
    ['2001:4860:4860::8888', 'public', 'public (inside 2001::/23 but outside its reserved parts)'],
  ];

  for (const [address, expected, range] of table) {
    it(`${address} (${range}) is ${expected}`, () => {
      const url = `http://${address.includes(':') ? `[${address}]` : address}/hook`;
      const problem = strict.addressProblem('hooks.example', address);
      const literal = strict.checkUrl(url);
      if (expected === 'public') {
        expect(problem).toBeNull();
        expect(literal.ok).toBe(true);
        return;
      }
      expect(literal.ok).toBe(false);
      expect(problem).toMatch(expected === 'never' ? /may never call it/ : /SLUICE_WEBHOOK_ALLOW_PRIVATE/);
      // The escape hatch: SLUICE_WEBHOOK_ALLOW_PRIVATE (or an allowlisted CIDR) opens the private
      // ranges, never the link-local/multicast/metadata ones.
      expect(loose.checkUrl(url).ok).toBe(expected === 'private');
    });
  }

  it('a host name resolving to a special-purpose address is refused when the webhook is created and at connect time', async () => {
    for (const address of ['192.0.0.8', '198.51.100.1', '2001:db8::5', 'fec0::1']) {
      const answer = [{ address, family: address.includes(':') ? 6 : 4 }];
      const created = vi.spyOn(dns.promises, 'lookup').mockResolvedValue(answer as never);
      const connected = vi
        .spyOn(dns, 'lookup')
        .mockImplementation(((_host: string, _options: unknown, callback: (e: null, a: typeof answer) => void) =>
          callback(null, answer)) as never);
      try {
        const url = strict.checkUrl('https://rebound.example/hook');
        expect(url.ok).toBe(true); // a name is only judged by what it resolves to
        if (!url.ok) continue;
        const resolved = await strict.checkResolved(url.value);
        expect(!resolved.ok && resolved.error, address).toMatch(/loopback or private/);
        expect((await loose.checkResolved(url.value)).ok, address).toBe(true);
        const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
          strict.lookup('rebound.example', {}, (e) => resolve(e)),
        );
        expect(error?.message, address).toMatch(/loopback or private/);
      } finally {
        created.mockRestore();
        connected.mockRestore();
      }
    }
  });
});
