/**
 * The console's runtime settings, read from `/config.json` next to `index.html`.
 *
 * The build is the same for every environment: the local stack serves a generated
 * config.json (API origins on 127.0.0.1), and the Pulumi program writes one into the
 * console's bucket at deploy time (the HTTP API, the streamed-answer API, the Cognito app
 * client). Nothing environment-specific is compiled in.
 */

export type AuthConfig =
  | { mode: "none" }
  | { mode: "token" }
  | { mode: "cognito"; domain: string; clientId: string; scopes: string[] };

export interface ConsoleConfig {
  /** upload service: /v1/documents, /v1/uploads */
  uploadApi: string;
  /** query service: /v1/search, /v1/answer, /v1/conversations */
  queryApi: string;
  /** where POST /v1/answer streams (on AWS a REST API of its own; locally the query service) */
  streamApi: string;
  auth: AuthConfig;
  /** a label shown in the header, e.g. "local" or the stack name */
  environment: string;
}

export class ConfigError extends Error {}

function url(raw: unknown, field: string): string {
  if (typeof raw !== "string" || !/^https?:\/\/[^\s]+$/.test(raw)) {
    throw new ConfigError(`config.json: ${field} must be an http(s) URL`);
  }
  return raw.replace(/\/+$/, "");
}

function auth(raw: unknown): AuthConfig {
  const value = (raw ?? { mode: "none" }) as Record<string, unknown>;
  if (value.mode === "none" || value.mode === "token") return { mode: value.mode };
  if (value.mode === "cognito") {
    if (typeof value.clientId !== "string" || !value.clientId) {
      throw new ConfigError("config.json: auth.clientId is required for Cognito sign-in");
    }
    const scopes = Array.isArray(value.scopes) ? value.scopes.map(String) : ["openid", "email"];
    return { mode: "cognito", domain: url(value.domain, "auth.domain"), clientId: value.clientId, scopes };
  }
  throw new ConfigError(`config.json: auth.mode must be none, token or cognito`);
}

export function parseConfig(raw: unknown): ConsoleConfig {
  if (typeof raw !== "object" || raw === null) throw new ConfigError("config.json is not an object");
  const value = raw as Record<string, unknown>;
  const queryApi = url(value.queryApi, "queryApi");
  return {
    uploadApi: url(value.uploadApi, "uploadApi"),
    queryApi,
    streamApi: value.streamApi ? url(value.streamApi, "streamApi") : queryApi,
    auth: auth(value.auth),
    environment: typeof value.environment === "string" ? value.environment : "",
  };
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new ConfigError(`config.json: HTTP ${response.status}`);
  return parseConfig(await response.json());
}
