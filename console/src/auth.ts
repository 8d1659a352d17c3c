/**
 * Who the console calls the API as.
 *
 * - `none`: the local stack with AUTH_MODE=none; requests carry no token.
 * - `token`: a JWT pasted in the sign-in dialog (local stacks with AUTH_MODE=jwt, or a
 *   deployment without the hosted UI); kept for the browser tab only.
 * - `cognito`: the OAuth 2.0 authorization-code flow with PKCE (RFC 7636) against the
 *   Cognito hosted UI: /oauth2/authorize, then /oauth2/token with the code verifier
 *   (https://docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html,
 *   https://docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html). The app
 *   client is public (no secret). The API takes the **ID token**: only it carries the tenant
 *   attribute and `aud` = the app client.
 *
 * Tokens live in sessionStorage (this tab only, gone when it closes); the CSP admits
 * scripts from the console's own origin only, which is what keeps them from other code.
 */
import type { AuthConfig } from "./config";

export interface User {
  name: string;
  groups: string[];
}

interface Tokens {
  idToken: string;
  refreshToken: string | null;
  /** epoch milliseconds */
  expiresAt: number;
}

const TOKENS_KEY = "docpipe.tokens";
const PENDING_KEY = "docpipe.pkce";
/** refresh this long before the ID token expires */
const EARLY_MS = 60_000;

export class AuthError extends Error {}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function randomVerifier(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The claims of a JWT, unverified: for display and expiry only (the API verifies it). */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (!part) throw new AuthError("not a JWT");
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const json = new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
  const claims: unknown = JSON.parse(json);
  if (typeof claims !== "object" || claims === null) throw new AuthError("not a JWT");
  return claims as Record<string, unknown>;
}

function userOf(token: string): User {
  const claims = jwtClaims(token);
  const groups = claims["cognito:groups"] ?? claims.groups ?? [];
  return {
    name: String(claims.email ?? claims.name ?? claims["cognito:username"] ?? claims.sub ?? "?"),
    groups: Array.isArray(groups) ? groups.map(String) : String(groups).split(" ").filter(Boolean),
  };
}

function readTokens(): Tokens | null {
  try {
    const raw = sessionStorage.getItem(TOKENS_KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

function writeTokens(tokens: Tokens | null): void {
  if (tokens) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  else sessionStorage.removeItem(TOKENS_KEY);
}

function redirectUri(): string {
  return `${location.origin}/`;
}

export class Session {
  private refreshing: Promise<Tokens | null> | null = null;

  constructor(readonly config: AuthConfig) {}

  get needsToken(): boolean {
    return this.config.mode !== "none";
  }

  user(): User | null {
    const tokens = readTokens();
    if (!tokens) return null;
    try {
      return userOf(tokens.idToken);
    } catch {
      return null;
    }
  }

  /** The bearer token to send, refreshed when it is about to expire; null when signed out. */
  async token(): Promise<string | null> {
    if (this.config.mode === "none") return null;
    const tokens = readTokens();
    if (!tokens) return null;
    if (tokens.expiresAt - EARLY_MS > Date.now()) return tokens.idToken;
    if (this.config.mode !== "cognito" || !tokens.refreshToken) {
      writeTokens(null);
      return null;
    }
    this.refreshing ??= this.refresh(tokens.refreshToken).finally(() => {
      this.refreshing = null;
    });
    return (await this.refreshing)?.idToken ?? null;
  }

  /** `token` mode: remember a pasted JWT (its `exp` decides when it is dropped). */
  useToken(token: string): User {
    const trimmed = token.trim().replace(/^Bearer\s+/i, "");
    const claims = jwtClaims(trimmed);
    const exp = typeof claims.exp === "number" ? claims.exp * 1000 : Date.now() + 3_600_000;
    if (exp <= Date.now()) throw new AuthError("the token has expired");
    writeTokens({ idToken: trimmed, refreshToken: null, expiresAt: exp });
    return userOf(trimmed);
  }

  /** `cognito` mode: go to the hosted UI; it comes back to `/?code=…&state=…`. */
  async signIn(): Promise<void> {
    if (this.config.mode !== "cognito") return;
    const verifier = randomVerifier();
    const state = randomVerifier();
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, back: location.hash }));
    const params = new URLSearchParams({
      response_type: "code",
      client_id: this.config.clientId,
      redirect_uri: redirectUri(),
      scope: this.config.scopes.join(" "),
      state,
      code_challenge: await codeChallenge(verifier),
      code_challenge_method: "S256",
    });
    location.assign(`${this.config.domain}/oauth2/authorize?${params}`);
  }

  signOut(): void {
    writeTokens(null);
    if (this.config.mode === "cognito") {
      const params = new URLSearchParams({ client_id: this.config.clientId, logout_uri: redirectUri() });
      location.assign(`${this.config.domain}/logout?${params}`);
    }
  }

  /**
   * Finish a hosted-UI sign-in when the page was opened with `?code=&state=`: exchange the
   * code (with the verifier this tab kept) and clean the URL. Returns false when there was
   * nothing to finish.
   */
  async completeSignIn(): Promise<boolean> {
    const query = new URLSearchParams(location.search);
    const code = query.get("code");
    const error = query.get("error");
    if (this.config.mode !== "cognito" || (!code && !error)) return false;
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? "null") as
      | { verifier: string; state: string; back: string }
      | null;
    sessionStorage.removeItem(PENDING_KEY);
    history.replaceState(null, "", `/${pending?.back ?? ""}`);
    if (error) throw new AuthError(query.get("error_description") ?? error);
    if (!pending || pending.state !== query.get("state")) {
      throw new AuthError("the sign-in answer does not match this tab's request; sign in again");
    }
    writeTokens(
      await this.tokenRequest({
        grant_type: "authorization_code",
        code: code ?? "",
        redirect_uri: redirectUri(),
        code_verifier: pending.verifier,
      }),
    );
    return true;
  }

  private async refresh(refreshToken: string): Promise<Tokens | null> {
    try {
      const tokens = await this.tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken });
      writeTokens({ ...tokens, refreshToken: tokens.refreshToken ?? refreshToken });
      return readTokens();
    } catch {
      writeTokens(null);
      return null;
    }
  }

  private async tokenRequest(fields: Record<string, string>): Promise<Tokens> {
    if (this.config.mode !== "cognito") throw new AuthError("not a Cognito sign-in");
    const response = await fetch(`${this.config.domain}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: this.config.clientId, ...fields }),
    });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok || typeof body.id_token !== "string") {
      throw new AuthError(String(body.error_description ?? body.error ?? `HTTP ${response.status}`));
    }
    return {
      idToken: body.id_token,
      refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : null,
      expiresAt: Date.now() + Number(body.expires_in ?? 3600) * 1000,
    };
  }
}
