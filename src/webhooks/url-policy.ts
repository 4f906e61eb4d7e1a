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
/**
 * Loopback, private, shared and the other ranges IANA's special-purpose registries mark as not
 * globally reachable (documentation, benchmarking, protocol assignments): refused unless
 * SLUICE_WEBHOOK_ALLOW_PRIVATE or allowlisted. (240.0.0.0/4, 255.255.255.255, multicast and
 * link-local are above, refused always.)
 */
const PRIVATE_V4 = [
  '0.0.0.0/8', // "this network" (RFC 791); 0.0.0.0 reaches the local host on Linux
  '10.0.0.0/8',
  '100.64.0.0/10', // shared address space, CGNAT (RFC 6598)
  '127.0.0.0/8',
  '172.16.0.0/12',
  '192.0.0.0/24', // IETF protocol assignments: DS-Lite, NAT64 discovery, PCP/TURN anycast (RFC 6890)
  '192.0.2.0/24', // TEST-NET-1 (RFC 5737)
  '192.88.99.0/24', // deprecated 6to4 relay anycast (RFC 7526)
  '192.168.0.0/16',
  '198.18.0.0/15', // benchmarking (RFC 2544)
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
];
/**
 * IPv6 counterparts. Addresses that embed an IPv4 address (mapped, NAT64 64:ff9b::/96, 6to4,
 * Teredo) are judged by that address too (`embeddedIpv4`), so 2002::/16 and 2001::/32 stay open
 * for public ones; 64:ff9b:1::/48 is NAT64's local-use prefix (RFC 8215): by definition inside
 * the operator's network.
 */
const PRIVATE_V6 = [
  '::/104', // ::, ::1, and IPv4-compatible forms of 0.0.0.0/8 (`::2` is not judged as IPv4)
  '64:ff9b:1::/48',
  '100::/64', // discard-only (RFC 6666)
  '2001:2::/48', // benchmarking (RFC 5180)
  '2001:10::/28', // deprecated ORCHID (RFC 4843)
  '2001:db8::/32', // documentation (RFC 3849)
  '3fff::/20', // documentation (RFC 9637)
  '5f00::/16', // SRv6 SIDs (RFC 9602)
  'fc00::/7', // unique local
  'fec0::/10', // deprecated site-local (RFC 3879): still routed inside some networks
];

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

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad allowed), or null. */
function ipv6Groups(address: string): number[] | null {
  if (!net.isIPv6(address)) return null;
  let text = address.toLowerCase().replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(zeros).fill('0'), ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : null;
}

function dotted(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The IPv4 address an IPv6 address carries, where packets to it would reach that IPv4 host:
 * IPv4-compatible `::a.b.c.d`, IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated
 * `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::/48` and Teredo
 * `2001:0::/32` (the client address, stored inverted). Null for any other address.
 */
export function embeddedIpv4(address: string): string | null {
  const g = ipv6Groups(address);
  if (!g) return null;
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  // `::` and `::1` are IPv6's own unspecified and loopback addresses, judged as such.
  if (zeroTo(6) && g6 !== 0) return dotted(g6, g7);
  if (zeroTo(5) && g5 === 0xffff) return dotted(g6, g7);
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return dotted(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return dotted(g6, g7);
  if (g0 === 0x2002) return dotted(g1, g2);
  if (g0 === 0x2001 && g1 === 0) return dotted(g6 ^ 0xffff, g7 ^ 0xffff);
  return null;
}

/** The address as checked: its family, and the IPv4 address inside an IPv6 one that embeds one. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6'; v4: string | null } {
  const bare = address.replace(/^\[|\]$/g, '');
  if (net.isIP(bare) === 4) return { address: bare, family: 'ipv4', v4: bare };
  return { address: bare, family: 'ipv6', v4: embeddedIpv4(bare) };
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
    // An IPv6 address that embeds an IPv4 one is judged by both: refused if either is.
    const inList = (list: net.BlockList) =>
      list.check(a.address, a.family) || (a.v4 !== null && list.check(a.v4, 'ipv4'));
    const shown = a.v4 !== null && a.v4 !== a.address ? `${a.v4} (inside ${a.address})` : a.address;
    if (inList(this.refused)) {
      return `${host} resolves to ${shown}, a link-local, multicast or cloud-metadata address; webhooks may never call it`;
    }
    const cidrListed = inList(this.allowedCidrs);
    const hostListed = this.hostListed(host);
    if (this.hasAllowlist && !cidrListed && !hostListed) {
      return `${host} (${shown}) is not in SLUICE_WEBHOOK_ALLOW_HOSTS`;
    }
    if (inList(this.private) && !this.options.allowPrivate && !cidrListed && !hostListed) {
      return `${host} resolves to ${shown}, a loopback or private (not globally reachable) address; set SLUICE_WEBHOOK_ALLOW_PRIVATE=true or list it in SLUICE_WEBHOOK_ALLOW_HOSTS to allow it`;
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
