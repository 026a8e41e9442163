/**
 * Whether `hostname` (a URL's, already lower-cased) is allowed by
 * PGMILL_HTTP_ALLOWED_HOSTS: an exact entry, or `*.example.com` for any host
 * under example.com (not example.com itself). `null` allows every host. Names
 * are matched, not the addresses they resolve to.
 */
export function isHostAllowed(allowed: readonly string[] | null, hostname: string): boolean {
  if (allowed === null) return true;
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return allowed.some((entry) => (entry.startsWith("*.") ? host.endsWith(entry.slice(1)) : host === entry));
}
