import { describe, expect, it } from "vitest";
import { checkGroups, fromRows, matchesFilter, parseFilter, toRows } from "./metadata";

describe("metadata rows", () => {
  it("round-trips every kind of value", () => {
    const metadata = { department: "HR", year: 2026, public: false, tags: ["leave", "pay"] };
    expect(fromRows(toRows(metadata))).toEqual({ metadata });
  });

  it("names the offending field", () => {
    expect(fromRows([{ key: "1bad", kind: "text", text: "x" }])).toEqual({
      problem: { message: "metadata.badKey", values: { key: "1bad" } },
    });
    expect(fromRows([{ key: "year", kind: "number", text: "twenty" }])).toEqual({
      problem: { message: "metadata.notNumber", values: { key: "year" } },
    });
    expect(
      fromRows([
        { key: "a", kind: "text", text: "1" },
        { key: "a", kind: "text", text: "2" },
      ]),
    ).toEqual({ problem: { message: "metadata.duplicateKey", values: { key: "a" } } });
  });

  it("ignores empty rows", () => {
    expect(fromRows([{ key: "", kind: "text", text: "" }])).toEqual({ metadata: {} });
  });
});

describe("access groups", () => {
  it("accepts the API's group names only", () => {
    expect(checkGroups(["hr-admins", "team:pay@example"])).toBeNull();
    expect(checkGroups(["has space"])?.message).toBe("access.badGroup");
    expect(checkGroups(Array.from({ length: 33 }, (_, i) => `g${i}`))?.message).toBe("access.tooMany");
  });
});

describe("metadata filter", () => {
  it("matches equal values and list members, case-insensitively", () => {
    const conditions = parseFilter("department=hr, tags=Pay");
    expect(matchesFilter({ department: "HR", tags: ["leave", "pay"] }, conditions)).toBe(true);
    expect(matchesFilter({ department: "Legal", tags: ["pay"] }, conditions)).toBe(false);
    expect(matchesFilter({ year: 2026 }, parseFilter("year=2026"))).toBe(true);
    expect(matchesFilter({}, parseFilter("year"))).toBe(false);
  });
});
