// DNS-rebinding guard: while the server listens on loopback (or SLUICE_ALLOWED_HOSTS is set), a
// request whose Host is not a loopback name/address or a configured name is refused 403.
import net from 'node:net';
import { ApiError } from '../errors.js';
import type { Guard } from './chain.js';

/** Whether `host` (a listen address or a Host name without port) is a loopback name or address. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(h) || /^::ffff:127\./.test(h);
  return false;
}

/** The name part of a Host header: `[::1]:8080` → `::1`, `Example.COM.:80` → `example.com`. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']')) : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

/**
 * Which Host names are accepted, or null when any is: the check applies when the server
 * listens on a loopback address (a DNS-rebinding page could otherwise reach it through the
 * browser) or when names are configured. `*` in the list turns the check off.
 */
export function hostPolicy(listenHost: string, allowedHosts: readonly string[]): ((name: string) => boolean) | null {
  const entries = allowedHosts.map((e) => e.trim().toLowerCase().replace(/\.$/, '')).filter((e) => e !== '');
  if (entries.includes('*')) return null;
  if (!isLoopbackHost(listenHost) && entries.length === 0) return null;
  const listen = hostName(listenHost.includes(':') && !listenHost.startsWith('[') ? `[${listenHost}]` : listenHost);
  return (name) =>
    isLoopbackHost(name) ||
    name === listen ||
    entries.some((e) => (e.startsWith('*.') ? name.endsWith(e.slice(1)) : name === e));
}

export function hostCheck(listenHost: string, allowedHosts: readonly string[]): Guard {
  const allowed = hostPolicy(listenHost, allowedHosts);
  // The last Host let through: clients send the same one on every request.
  let lastAllowed: string | undefined;
  return (c) => {
    if (allowed === null) return;
    const header = c.req.header('host');
    // HTTP/1.0 clients may omit Host; browsers (the rebinding threat) always send it.
    if (header === undefined || header === lastAllowed) return;
    if (allowed(hostName(header))) {
      lastAllowed = header;
      return;
    }
    throw new ApiError(
      'forbidden',
      `Host "${header.slice(0, 255)}" is not one of this server's names; it answers loopback names and addresses` +
        ` and those in SLUICE_ALLOWED_HOSTS (a guard against DNS rebinding)`,
      { reason: 'host_not_allowed' },
    );
  };
}
