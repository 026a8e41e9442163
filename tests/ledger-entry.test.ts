import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import {
  MAX_ERROR_MESSAGE_BYTES,
  payloadForHistory,
  storableText,
  toJsonb,
  truncateUtf8,
} from "../src/ledger/entry.js";

const MARKER = "…[truncated]";
const MARKER_BYTES = Buffer.byteLength(MARKER);
const bytes = (text: string) => Buffer.byteLength(text, "utf8");

// Mixes 1-, 2-, 3- and 4-byte characters (and multi-code-point emoji).
const SAMPLES = [
  "plain ascii text that is long enough to be cut somewhere",
  "héllo wörld, ça va? Ærøskøbing, Łódź, naïve café crème brûlée",
  "😀😃😄😁👍🏽👨‍👩‍👧‍👦🇫🇷🏳️‍🌈",
  "日本語のテキストと한국어 텍스트, 中文文本",
  "a😀é日b😀é日c😀é日d😀é日e😀é日",
];

/** Checks one result against the contract; `limit` is the byte budget. */
function expectTruncated(text: string, limit: number, result: string): void {
  expect(bytes(result), `${limit} bytes of ${JSON.stringify(text)}`).toBeLessThanOrEqual(limit);
  // A split character would decode to U+FFFD; none of the samples contain one.
  expect(result).not.toContain("\uFFFD");
  if (bytes(text) <= limit) {
    expect(result).toBe(text);
  }
}

describe("truncateUtf8", () => {
  it("keeps text that fits", () => {
    expect(truncateUtf8("héllo", 6)).toBe("héllo");
    expect(truncateUtf8("", 0)).toBe("");
  });

  it("never exceeds the limit nor splits a character (limits at or above the marker size)", () => {
    for (const text of SAMPLES) {
      for (let limit = MARKER_BYTES; limit <= bytes(text) + 2; limit++) {
        const result = truncateUtf8(text, limit);
        expectTruncated(text, limit, result);
        if (bytes(text) > limit) {
          expect(result.endsWith(MARKER)).toBe(true);
          const kept = result.slice(0, -MARKER.length);
          expect(text.startsWith(kept)).toBe(true);
          // It keeps as much as fits: at most one partial character (< 4 bytes) is dropped.
          expect(bytes(kept)).toBeGreaterThan(limit - MARKER_BYTES - 4);
        }
      }
    }
  });

  it("never exceeds limits smaller than the truncation marker", () => {
    for (const text of SAMPLES) {
      for (let limit = 0; limit < MARKER_BYTES; limit++) {
        expectTruncated(text, limit, truncateUtf8(text, limit));
      }
    }
  });

  it("cuts long error messages to the configured maximum", () => {
    const long = "é😀x".repeat(5000);
    const result = truncateUtf8(long, MAX_ERROR_MESSAGE_BYTES);
    expect(bytes(result)).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_BYTES);
    expect(bytes(result)).toBeGreaterThan(MAX_ERROR_MESSAGE_BYTES - 4);
    expect(result).not.toContain("\uFFFD");
  });
});

describe("storableText", () => {
  it("replaces NUL characters and keeps the rest", () => {
    expect(storableText("a\u0000b\u0000\u0000c é😀", 1000)).toBe("a\uFFFDb\uFFFD\uFFFDc é😀");
  });

  it("still respects the byte limit after replacing NULs (each becomes 3 bytes)", () => {
    const result = storableText("\u0000".repeat(100), 50);
    expect(result).not.toContain("\u0000");
    expect(bytes(result)).toBeLessThanOrEqual(50);
    expect(result.endsWith(MARKER)).toBe(true);
  });
});

describe("toJsonb", () => {
  it("replaces NUL in nested strings and keeps everything else", () => {
    const value = { a: ["x\u0000y", { b: "\u0000", n: 1, t: true, z: null }], s: "plain", e: "é😀" };
    const json = toJsonb(value);
    expect(json).not.toContain("\\u0000");
    expect(JSON.parse(json)).toEqual({
      a: ["x\uFFFDy", { b: "\uFFFD", n: 1, t: true, z: null }],
      s: "plain",
      e: "é😀",
    });
  });

  it("replaces NUL in object keys too (jsonb rejects \\u0000 anywhere)", () => {
    const json = toJsonb({ "a\u0000b": { "\u0000": "ok" } });
    expect(json).not.toContain("\\u0000");
  });

  it("writes payloads nested deeper than JSON.stringify can recurse, exactly", () => {
    const depth = 20_000;
    const text = `{"k":${"[".repeat(depth)}"\\u0000",{"a":1,"b":[true,null]}${"]".repeat(depth)}}`;
    const value: unknown = JSON.parse(text);
    expect(() => JSON.stringify(value)).toThrow(RangeError);
    expect(toJsonb(value)).toBe(text.replace("\\u0000", "\uFFFD"));
    expect(toJsonb(JSON.parse(`${"[".repeat(depth)}${"]".repeat(depth)}`))).toBe(`${"[".repeat(depth)}${"]".repeat(depth)}`);
  });

  it("matches JSON.stringify on ordinary values", () => {
    const value = { s: "é\n\"q\"", n: -1.5e-7, t: false, z: null, a: [1, "two", [], {}], o: { "": 0, "__proto__": 1 } };
    const withNul = { ...value, nul: "\u0000" };
    expect(JSON.parse(toJsonb(withNul))).toEqual({ ...value, nul: "\uFFFD" });
    expect(toJsonb(withNul)).toBe(JSON.stringify({ ...value, nul: "\uFFFD" }));
  });

  it("produces text Postgres accepts as jsonb", async () => {
    // A real server check: Postgres refuses \u0000 in jsonb.
    const client = new pg.Client({ connectionString: inject("adminUrl") });
    await client.connect();
    try {
      const value = { msg: "bad\u0000byte", list: ["\u0000", { deep: "x\u0000" }] };
      const { rows } = await client.query<{ v: unknown }>("select $1::jsonb as v", [toJsonb(value)]);
      expect(rows[0]?.v).toEqual({ msg: "bad\uFFFDbyte", list: ["\uFFFD", { deep: "x\uFFFD" }] });
      await expect(client.query("select $1::jsonb", [JSON.stringify(value)])).rejects.toThrow(/unsupported Unicode/);
    } finally {
      await client.end();
    }
  });
});

describe("payloadForHistory", () => {
  const payload = {
    to: "ada@example.com",
    count: 3,
    urgent: false,
    tags: ["a", "b", 7],
    nested: { deeper: { secret: "s3cr3t", none: null }, empty: {} },
    nothing: null,
    list: [] as unknown[],
  };

  it("stores the payload as is", () => {
    expect(payloadForHistory("stored", payload)).toBe(payload);
    expect(payloadForHistory("stored", undefined)).toBeNull();
  });

  it("omits the payload", () => {
    expect(payloadForHistory("omitted", payload)).toBeNull();
  });

  it("redacts every value but keeps keys, array lengths and nulls", () => {
    const R = "[redacted]";
    const before = structuredClone(payload);
    expect(payloadForHistory("redacted", payload)).toEqual({
      to: R,
      count: R,
      urgent: R,
      tags: [R, R, R],
      nested: { deeper: { secret: R, none: null }, empty: {} },
      nothing: null,
      list: [],
    });
    // The input is left alone.
    expect(payload).toEqual(before);
    expect(JSON.stringify(payloadForHistory("redacted", payload))).not.toMatch(/ada|s3cr3t|"a"|7/);
  });

  it("redacts a payload nested deeper than JSON.stringify can recurse", () => {
    const depth = 20_000;
    const redacted = payloadForHistory("redacted", JSON.parse(`${"[".repeat(depth)}"secret"${"]".repeat(depth)}`));
    expect(toJsonb(redacted)).toBe(`${"[".repeat(depth)}"[redacted]"${"]".repeat(depth)}`);
  });

  it("redacts scalar and array payloads", () => {
    expect(payloadForHistory("redacted", "secret")).toBe("[redacted]");
    expect(payloadForHistory("redacted", 42)).toBe("[redacted]");
    expect(payloadForHistory("redacted", null)).toBeNull();
    expect(payloadForHistory("redacted", [[1], null, { k: 0 }])).toEqual([["[redacted]"], null, { k: "[redacted]" }]);
  });
});
