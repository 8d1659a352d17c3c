import { describe, expect, it } from "vitest";
import { contentTypeOf } from "./upload";

describe("contentTypeOf", () => {
  it("names the type from the extension, else the browser's guess", () => {
    expect(contentTypeOf({ name: "手冊.PDF", type: "" })).toBe("application/pdf");
    expect(contentTypeOf({ name: "notes.md", type: "text/plain" })).toBe("text/markdown");
    expect(contentTypeOf({ name: "blob", type: "" })).toBe("application/octet-stream");
  });
});
