// Unit tests of the webhook URL policy: schemes, always-refused link-local/metadata addresses,
// the private-address switch, the allowlist, and the connect-time lookup guard.
import { describe, expect, it } from 'vitest';
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
