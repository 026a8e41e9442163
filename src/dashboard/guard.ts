import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { Access } from "./layout.js";
import { sameSecret, type Session, type Sessions } from "./sessions.js";

// Who may see and who may act, checked before any page or action runs.

export const SESSION_COOKIE = "pgmill_session";
const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export type Env = { Variables: { session: Session | null; access: Access } };

/**
 * Bound to loopback, only requests addressed to a loopback name are served:
 * a DNS-rebinding page (evil.example resolving to 127.0.0.1) gets 421. It also
 * finds the visitor's session and sets the headers every response carries.
 */
export function visitorGuard(options: { host: string; token: string | null; sessions: Sessions }): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (LOOPBACK.has(options.host) && !LOOPBACK.has(hostName(c.req.header("host")))) {
      return c.text("this dashboard answers to localhost only (set PGMILL_DASHBOARD_HOST to serve other names)\n", 421);
    }
    const session = options.token ? options.sessions.get(getCookie(c, SESSION_COOKIE)) : null;
    c.set("session", session);
    c.set("access", !options.token ? "read-only" : session ? "unlocked" : "locked");
    await next();
    c.header("content-security-policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "same-origin");
    c.header("cache-control", "no-store");
  };
}

/**
 * Every write: refused when read-only or cross-site; otherwise it needs the
 * token (Bearer, for scripts) or a session whose CSRF token the form carries
 * (the login form excepted: it carries the token).
 */
export function writeGuard(token: string | null): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    if (!token) return refuse(c, "read-only: set PGMILL_DASHBOARD_TOKEN to enable actions");
    const crossSite = crossSiteReason(c);
    if (crossSite) return refuse(c, crossSite);
    const bearer = c.req.header("authorization")?.match(/^Bearer (.+)$/)?.[1];
    if (bearer !== undefined) return sameSecret(bearer, token) ? next() : refuse(c, "wrong token");
    if (c.req.path === "/login") return next();
    const session = c.get("session");
    if (!session) return refuse(c, "log in first (/login)");
    const form = await c.req.parseBody();
    if (typeof form._csrf !== "string" || !sameSecret(form._csrf, session.csrf)) return refuse(c, "missing or wrong CSRF token: reload the page and try again");
    return next();
  };
}

/** A browser's form post from this very origin passes; another site's (or a sandboxed frame's) does not. */
function crossSiteReason(c: Context): string | null {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin" && site !== "none") return `cross-site request refused (Sec-Fetch-Site: ${site})`;
  const origin = c.req.header("origin");
  if (origin !== undefined) {
    let originHost: string | null = null;
    try {
      originHost = new URL(origin).host;
    } catch {
      // "null" (a sandboxed frame, a redirect chain) or junk: not this origin.
    }
    if (originHost !== c.req.header("host")) return `cross-origin request refused (Origin: ${origin})`;
  }
  return null;
}

function refuse(c: Context, reason: string) {
  return c.text(`${reason}\n`, 403);
}

function hostName(host: string | undefined): string {
  if (!host) return "";
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
}
