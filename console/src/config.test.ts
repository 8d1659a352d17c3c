import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./config";

describe("config.json", () => {
  it("defaults the stream API to the query API and trims slashes", () => {
    const config = parseConfig({ uploadApi: "https://api.example/", queryApi: "https://api.example", auth: { mode: "none" } });
    expect(config.streamApi).toBe("https://api.example");
    expect(config.uploadApi).toBe("https://api.example");
  });

  it("needs a client id and an https domain for Cognito", () => {
    expect(() =>
      parseConfig({ uploadApi: "https://a", queryApi: "https://a", auth: { mode: "cognito", domain: "https://d" } }),
    ).toThrow(ConfigError);
    expect(() => parseConfig({ uploadApi: "javascript:alert(1)", queryApi: "https://a" })).toThrow(ConfigError);
  });
});
