import net from "node:net";
import { describe, expect, it } from "vitest";
import { expectUserError, runCli, SLOW_CLI_TIMEOUT } from "./run-cli.js";

// Mistakes a user fixes: one message, no stack trace, exit 2. None reach a database.

describe("usage errors", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("an unknown command is called that, with a suggestion, not an argument of the default command", async () => {
    const stderr = expectUserError(await runCli(["histroy"]));
    expect(stderr).toBe("pgmill: unknown command 'histroy' (Did you mean history?)\n(add --help for usage)\n");
  });

  for (const command of ["dlq", "cron"]) {
    it(`\`pgmill ${command}\` without a subcommand prints its help, line by line, and exits 2`, async () => {
      const result = await runCli([command]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      const help = await runCli([command, "--help"]);
      expect(result.stderr).toBe(help.stdout);
      expect(result.stderr.split("\n").length).toBeGreaterThan(5);
    });
  }

  it("the HTTP port in use is one line naming PGMILL_HTTP_PORT", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, resolve));
    try {
      const { port } = holder.address() as net.AddressInfo;
      const stderr = expectUserError(await runCli(["run"], { env: { PGMILL_HTTP_PORT: String(port) } }));
      expect(stderr).toBe(
        `pgmill: port ${port} is in use (another pgmill daemon?): stop it, or set PGMILL_HTTP_PORT (--http-port) to a free port\n`,
      );
    } finally {
      holder.close();
    }
  });
});
