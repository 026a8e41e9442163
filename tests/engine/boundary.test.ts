import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".ts")).map((e) => path.join(e.parentPath, e.name));
}

// An engine upgrade should break in one folder: only src/engine/ imports
// graphile-worker or names its schema in SQL.
describe("the engine boundary", () => {
  it("keeps every import of graphile-worker and every graphile_worker.* reference inside src/engine/", async () => {
    const files = await sourceFiles(SRC);
    const outside = files.filter((f) => !f.startsWith(path.join(SRC, "engine") + path.sep));
    expect(outside.length).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const file of outside) {
      const text = await readFile(file, "utf8");
      text.split("\n").forEach((line, i) => {
        const code = line.replace(/\/\*.*?\*\//g, "").replace(/\/\/.*$/, "").replace(/^\s*\*.*$/, "");
        if (/from\s+["']graphile-worker(\/[^"']*)?["']|import\(["']graphile-worker|\bgraphile_worker\./.test(code)) {
          offenders.push(`${path.relative(SRC, file)}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    expect(offenders).toEqual([]);
  });

  it("uses graphile-worker only through its package exports (no deep imports)", async () => {
    const files = await sourceFiles(path.join(SRC, "engine"));
    const deep: string[] = [];
    for (const file of files) {
      const text = await readFile(file, "utf8");
      for (const match of text.matchAll(/["']graphile-worker\/[^"']+["']/g)) deep.push(`${path.basename(file)}: ${match[0]}`);
    }
    expect(files.length).toBeGreaterThan(5);
    expect(deep).toEqual([]);
  });
});
