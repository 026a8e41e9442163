import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/config.js";
import { PgmillProblemsError } from "../src/errors.js";
import { isHostAllowed } from "../src/tasks/allowed-hosts.js";

describe("PGMILL_HTTP_ALLOWED_HOSTS", () => {
  it("is unset by default: every host is allowed", () => {
    expect(loadConfig({}, {}).httpAllowedHosts).toBeNull();
    expect(isHostAllowed(null, "anything.example")).toBe(true);
  });

  it("parses a comma list of host names, IPs and *.suffix patterns, lower-cased", () => {
    const config = loadConfig({}, { PGMILL_HTTP_ALLOWED_HOSTS: " API.example.com, *.Internal.example.org ,10.0.0.5,[::1],hooks.example.net." });
    expect(config.httpAllowedHosts).toEqual(["api.example.com", "*.internal.example.org", "10.0.0.5", "[::1]", "hooks.example.net"]);
    expect(Object.isFrozen(config.httpAllowedHosts)).toBe(true);
  });

  it("matches exact names, and *.suffix for hosts under the domain only", () => {
    const allowed = ["api.example.com", "*.internal.example.org", "[::1]"];
    for (const host of ["api.example.com", "API.example.com", "api.example.com.", "a.internal.example.org", "a.b.internal.example.org", "[::1]"]) {
      expect(isHostAllowed(allowed, host), host).toBe(true);
    }
    for (const host of ["example.com", "api.example.com.evil.net", "evilapi.example.com", "internal.example.org", "xinternal.example.org", "127.0.0.1"]) {
      expect(isHostAllowed(allowed, host), host).toBe(false);
    }
  });

  it("reports every bad entry at once, by name", () => {
    let error: unknown;
    try {
      loadConfig({}, { PGMILL_HTTP_ALLOWED_HOSTS: "ok.example.com,,http://x.example.com,*.,a b" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PgmillProblemsError);
    const problems = (error as PgmillProblemsError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PGMILL_HTTP_ALLOWED_HOSTS: not a host name or \*\.suffix pattern: "", "http:\/\/x\.example\.com", "\*\.", "a b" \(expected/);
  });
});

describe("configuration errors", () => {
  it("never echo DATABASE_URL, which can carry a password", () => {
    let error: unknown;
    try {
      loadConfig({}, { DATABASE_URL: "mysql://app:hunter2-secret@db/app", PGMILL_CONCURRENCY: "lots" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PgmillProblemsError);
    const message = (error as Error).message;
    expect(message).toContain("DATABASE_URL (--database-url): expected a postgres:// or postgresql:// connection string");
    expect(message).toContain('PGMILL_CONCURRENCY (--concurrency)');
    expect(message).toContain('(got "lots")');
    expect(message).not.toContain("hunter2");
  });
});
