// Which URLs a webhook may call: http(s) only, never link-local or cloud-metadata addresses,
// private ranges only when allowed, and an optional allowlist — checked again on every connect.
import dns from 'node:dns';
import net from 'node:net';
import { err, ok, type Result } from '../lib/result.js';

export const MAX_URL_LENGTH = 2048;

/** Never reachable from a webhook, whatever the config says (SSRF to instance credentials). */
const ALWAYS_REFUSED_V4 = ['169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4', '100.100.100.200/32', '168.63.129.16/32'];
const ALWAYS_REFUSED_V6 = ['fe80::/10', 'ff00::/8', 'fd00:ec2::254/128'];
const ALWAYS_REFUSED_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data']);
/** Loopback, private and shared ranges: refused unless SLUICE_WEBHOOK_ALLOW_PRIVATE or allowlisted. */
const PRIVATE_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '198.18.0.0/15',
];
const PRIVATE_V6 = ['::/128', '::1/128', 'fc00::/7'];

function blockList(v4: string[], v6: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const c of v4) addCidr(list, c);
  for (const c of v6) addCidr(list, c);
  return list;
}

function addCidr(list: net.BlockList, cidr: string): boolean {
  const [addr, bits] = cidr.split('/');
  const family = addr ? net.isIP(addr) : 0;
  if (!addr || family === 0) return false;
  const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > (family === 4 ? 32 : 128) ||
    (bits !== undefined && !/^\d+$/.test(bits))
  ) {
    return false;
  }
  list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return true;
}

/** `::ffff:1.2.3.4` is the IPv4 address 1.2.3.4 as far as reachability goes. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1]) return { address: mapped[1], family: 'ipv4' };
  return { address: bare, family: net.isIP(bare) === 4 ? 'ipv4' : 'ipv6' };
}

export interface UrlPolicyOptions {
  allowPrivate: boolean;
  /** Host names (`a.example.com`, `*.example.com`) and CIDRs / IP addresses. */
  allowHosts: readonly string[];
}

export class UrlPolicy {
  private readonly refused = blockList(ALWAYS_REFUSED_V4, ALWAYS_REFUSED_V6);
  private readonly private = blockList(PRIVATE_V4, PRIVATE_V6);
  private readonly allowedCidrs = new net.BlockList();
  private readonly allowedHosts: string[] = [];
  private readonly hasCidrs: boolean;

  /** Throws naming the bad entry when an allowlist entry is neither a host name nor a CIDR. */
  constructor(private readonly options: UrlPolicyOptions) {
    let cidrs = 0;
    for (const raw of options.allowHosts) {
      const entry = raw.trim().toLowerCase();
      if (entry.includes('/') || net.isIP(entry) !== 0) {
        if (!addCidr(this.allowedCidrs, entry))
          throw new Error(`SLUICE_WEBHOOK_ALLOW_HOSTS: "${raw}" is not a valid CIDR`);
        cidrs++;
      } else if (/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(entry)) {
        this.allowedHosts.push(entry);
      } else {
        throw new Error(`SLUICE_WEBHOOK_ALLOW_HOSTS: "${raw}" is neither a host name, a *.domain pattern nor a CIDR`);
      }
    }
    this.hasCidrs = cidrs > 0;
  }

  private get hasAllowlist(): boolean {
    return this.allowedHosts.length > 0 || this.hasCidrs;
  }

  private hostListed(host: string): boolean {
    return this.allowedHosts.some((p) => (p.startsWith('*.') ? host.endsWith(p.slice(1)) : host === p));
  }

  /**
   * Why connecting to `address` (resolved from `host`) is refused, or null if it is allowed.
   * Link-local and metadata addresses are refused even when listed.
   */
  addressProblem(host: string, address: string): string | null {
    const a = normalise(address);
    if (this.refused.check(a.address, a.family)) {
      return `${host} resolves to ${a.address}, a link-local, multicast or cloud-metadata address; webhooks may never call it`;
    }
    const cidrListed = this.allowedCidrs.check(a.address, a.family);
    const hostListed = this.hostListed(host);
    if (this.hasAllowlist && !cidrListed && !hostListed) {
      return `${host} (${a.address}) is not in SLUICE_WEBHOOK_ALLOW_HOSTS`;
    }
    if (this.private.check(a.address, a.family) && !this.options.allowPrivate && !cidrListed && !hostListed) {
      return `${host} resolves to ${a.address}, a loopback or private address; set SLUICE_WEBHOOK_ALLOW_PRIVATE=true or list it in SLUICE_WEBHOOK_ALLOW_HOSTS to allow it`;
    }
    return null;
  }

  /** Syntax and literal checks (no DNS): what a 400 at create/update time explains. */
  checkUrl(raw: string): Result<URL, string> {
    if (raw.length > MAX_URL_LENGTH) return err(`url is longer than ${MAX_URL_LENGTH} characters`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return err('url is not an absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return err(`url scheme must be http or https, not ${url.protocol.slice(0, -1)}`);
    if (url.username !== '' || url.password !== '')
      return err('url must not carry credentials (user:password@); put a token in the path or query instead');
    if (url.hash !== '') return err('url must not have a #fragment');
    const host = url.hostname.toLowerCase();
    if (host === '') return err('url has no host');
    if (ALWAYS_REFUSED_HOSTS.has(host.replace(/\.$/, '')))
      return err(`${host} is a cloud-metadata host; webhooks may never call it`);
    const literal = host.replace(/^\[|\]$/g, '');
    if (net.isIP(literal) !== 0) {
      const problem = this.addressProblem(host, literal);
      if (problem) return err(problem);
    } else if (this.hasAllowlist && !this.hostListed(host) && !this.hasCidrs) {
      return err(`${host} is not in SLUICE_WEBHOOK_ALLOW_HOSTS`);
    }
    return ok(url);
  }

  /** Resolve the URL's host and check every address (create/update time; delivery re-checks on connect). */
  async checkResolved(url: URL): Promise<Result<void, string>> {
    const host = url.hostname.toLowerCase();
    if (net.isIP(host.replace(/^\[|\]$/g, '')) !== 0) return ok(undefined);
    let addresses: dns.LookupAddress[];
    try {
      addresses = await dns.promises.lookup(host, { all: true });
    } catch {
      // Not resolvable yet is not an error of the request: delivery retries and reports it.
      return ok(undefined);
    }
    for (const a of addresses) {
      const problem = this.addressProblem(host, a.address);
      if (problem) return err(problem);
    }
    return ok(undefined);
  }

  /**
   * A `lookup` for http.request that refuses forbidden addresses at connect time, so a DNS
   * answer that changed after creation (rebinding) cannot reach a forbidden address.
   */
  readonly lookup: net.LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as unknown as dns.LookupAddress[];
      for (const a of list) {
        const problem = this.addressProblem(hostname.toLowerCase(), a.address);
        if (problem) {
          const refused = Object.assign(new Error(problem), { code: 'EWEBHOOKADDRESS' });
          return callback(refused, '', 0);
        }
      }
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      const first = list[0];
      if (!first)
        return callback(Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
