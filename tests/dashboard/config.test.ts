import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { PgmillProblemsError } from "../../src/errors.js";

describe("dashboard settings", () => {
  it("defaults to port 8081 on 127.0.0.1, read-only", () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({ dashboardPort: 8081, dashboardHost: "127.0.0.1", dashboardToken: null });
  });

  it("reads port, host and token from the environment", () => {
    const config = loadConfig({}, { PGMILL_DASHBOARD_PORT: "9090", PGMILL_DASHBOARD_HOST: "0.0.0.0", PGMILL_DASHBOARD_TOKEN: "a-long-enough-token-1234" });
    expect(config).toMatchObject({ dashboardPort: 9090, dashboardHost: "0.0.0.0", dashboardToken: "a-long-enough-token-1234" });
  });

  it("refuses a short token without echoing it", () => {
    let error: unknown;
    try {
      loadConfig({}, { PGMILL_DASHBOARD_TOKEN: "short-secret" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PgmillProblemsError);
    const problems = (error as PgmillProblemsError).problems.join("\n");
    expect(problems).toContain("PGMILL_DASHBOARD_TOKEN: at least 16 characters");
    expect(problems).not.toContain("short-secret");
  });
});
