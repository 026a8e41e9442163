import { describe, expect, it } from "vitest";
import { serializeError } from "../src/logging/serialize-error.js";

describe("serializeError (pgmill's `err` log serializer)", () => {
  it("keeps type, message, code and stack, and drops fields that quote data", () => {
    let urlError: unknown;
    try {
      new URL("postgres://app:hunter2@[bad/db");
    } catch (error) {
      urlError = error;
    }
    expect((urlError as { input?: string }).input).toContain("hunter2");
    const logged = serializeError(urlError) as Record<string, unknown>;
    expect(logged).toMatchObject({ type: "TypeError", message: "Invalid URL", code: "ERR_INVALID_URL" });
    expect(logged.stack).toEqual(expect.stringContaining("Invalid URL"));
    expect(JSON.stringify(logged)).not.toContain("hunter2");

    const pgLike = Object.assign(new Error("new row violates check constraint"), { code: "23514", detail: "Failing row contains (secret)" });
    expect(JSON.stringify(serializeError(pgLike))).not.toContain("secret");
  });

  it("follows causes and aggregated errors, to a bounded depth", () => {
    const logged = serializeError(new AggregateError([new Error("one", { cause: new Error("root") }), "two"], "both")) as Record<string, unknown>;
    expect(logged).toMatchObject({
      type: "AggregateError",
      message: "both",
      errors: [{ message: "one", cause: { message: "root" } }, "two"],
    });
    let deep: Error = new Error("0");
    for (let i = 1; i < 20; i++) deep = new Error(String(i), { cause: deep });
    expect(JSON.stringify(serializeError(deep)).match(/"message"/g)).toHaveLength(6);
  });

  it("logs a thrown non-error object as text, not as its fields", () => {
    expect(serializeError({ payload: { token: "secret" } })).toBe("[object Object]");
    expect(serializeError("plain")).toBe("plain");
  });
});
