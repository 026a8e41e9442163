import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { nodeTooOld, REQUIRED_NODE, requiredNode } from "../../src/node-version.js";
import { VERSION } from "../../src/version.js";
import { BIN, ROOT } from "../support/built-dist.js";
import { runCommand, type CommandResult } from "../support/run-command.js";

// The built entry, dist/cli/bin.js, on a Node older than package.json's engines:
// one line saying what to do, exit 1. The machine's own Node (/usr/bin/node) is
// used when it is old enough to be refused; otherwise Node 24 is made to report
// an old version, so the assertions run everywhere.

// dist/ is brought up to date by the global setup (tests/support/built-dist.ts).
const INDEX = path.join(ROOT, "dist/index.js");
const SYSTEM_NODE = "/usr/bin/node";
const FAKE_VERSION = "20.20.2";

function run(command: readonly string[]): Promise<CommandResult> {
  const [file, ...args] = command;
  return runCommand(file!, args, { cwd: ROOT });
}

/** A Node command older than REQUIRED_NODE, and the version it reports. */
function oldNode(): { command: string[]; version: string } {
  if (existsSync(SYSTEM_NODE)) {
    const version = execFileSync(SYSTEM_NODE, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
    if (nodeTooOld(version, REQUIRED_NODE)) return { command: [SYSTEM_NODE], version };
  }
  const fake = `Object.defineProperty(process, "versions", { value: { ...process.versions, node: "${FAKE_VERSION}" } })`;
  return { command: [process.execPath, "--import", `data:text/javascript,${encodeURIComponent(fake)}`], version: FAKE_VERSION };
}


describe("nodeTooOld", () => {
  it("refuses versions below the required one, comparing numbers, not text", () => {
    for (const version of ["20.20.2", "22.17.9", "22.9.0", "v18.0.0"]) {
      expect(nodeTooOld(version, "22.18"), version).toBe(`needs Node.js 22.18 or newer (this is ${version})`);
    }
  });

  it("accepts the required version and newer ones", () => {
    for (const version of ["22.18.0", "22.18.1", "22.100.0", "23.0.0", "24.21.0", "v24.0.0", "22.18.0-nightly20250101"]) {
      expect(nodeTooOld(version, "22.18"), version).toBeNull();
    }
  });

  it("takes the required version from package.json's engines.node", () => {
    const engines = (createRequire(import.meta.url)("../../package.json") as { engines: { node: string } }).engines.node;
    expect(REQUIRED_NODE).toBe(requiredNode(engines));
    expect(requiredNode(">=22.18")).toBe("22.18");
    expect(() => requiredNode("^22.18 || >=24")).toThrow(/engines\.node/);
  });
});

describe("dist/cli/bin.js", () => {
  it("on a too-old Node, prints one line saying what is needed and exits 1", async () => {
    const old = oldNode();
    const result = await run([...old.command, BIN, "--version"]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^pgmill: [^\n]+\n$/);
    expect(result.stderr).toContain(`Node.js ${REQUIRED_NODE} or newer`);
    expect(result.stderr).toContain(`(this is ${old.version})`);
    expect(result.stderr).toContain("npm start");
    expect(result.stderr).not.toMatch(/^\s*at /m);
  });

  it("on this Node, runs the CLI", async () => {
    const result = await run([process.execPath, BIN, "--version"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${VERSION}\n`);
  });
});

describe("dist/index.js", () => {
  it("on a too-old Node, fails to import with the same explanation", async () => {
    const old = oldNode();
    const script = "import(process.argv[1]).then(() => process.exit(0), (error) => { console.error(error.message); process.exit(3); })";
    const result = await run([...old.command, "-e", script, INDEX]);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toBe(`pgmill needs Node.js ${REQUIRED_NODE} or newer (this is ${old.version}); install Node 24 LTS\n`);
  });
});
