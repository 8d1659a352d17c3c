/**
 * Metadata as an editor shows it (rows of key, kind, text) and as the API takes it, with
 * the API's own rules checked first so a mistake is named before the request (docs/api.md:
 * at most 32 keys matching [A-Za-z_][A-Za-z0-9_.-]{0,63}; strings of at most 256
 * characters, numbers, booleans or lists of strings).
 */
import type { Metadata, MetadataValue } from "./api";

export type Kind = "text" | "number" | "boolean" | "list";

export interface Row {
  key: string;
  kind: Kind;
  text: string;
}

export const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
export const GROUP_PATTERN = /^[A-Za-z0-9_.:@-]{1,128}$/;
export const MAX_KEYS = 32;
export const MAX_GROUPS = 32;
export const MAX_STRING = 256;

export function toRows(metadata: Metadata): Row[] {
  return Object.entries(metadata).map(([key, value]) => {
    if (Array.isArray(value)) return { key, kind: "list", text: value.join(", ") };
    if (typeof value === "number") return { key, kind: "number", text: String(value) };
    if (typeof value === "boolean") return { key, kind: "boolean", text: String(value) };
    return { key, kind: "text", text: value };
  });
}

/** A problem as a message key and its values, for the caller to translate. */
export interface Problem {
  message: string;
  values: Record<string, string | number>;
}

function value(row: Row): MetadataValue | Problem {
  const key = row.key;
  switch (row.kind) {
    case "number": {
      const number = Number(row.text.trim());
      return row.text.trim() === "" || !Number.isFinite(number)
        ? { message: "metadata.notNumber", values: { key } }
        : number;
    }
    case "boolean":
      return row.text === "true";
    case "list": {
      const items = row.text.split(",").map((item) => item.trim()).filter(Boolean);
      return items.some((item) => item.length > MAX_STRING)
        ? { message: "metadata.tooLong", values: { key, max: MAX_STRING } }
        : items;
    }
    default:
      return row.text.length > MAX_STRING ? { message: "metadata.tooLong", values: { key, max: MAX_STRING } } : row.text;
  }
}

export function fromRows(rows: Row[]): { metadata: Metadata } | { problem: Problem } {
  const metadata: Metadata = {};
  const filled = rows.filter((row) => row.key.trim() !== "" || row.text.trim() !== "");
  if (filled.length > MAX_KEYS) return { problem: { message: "metadata.tooMany", values: { max: MAX_KEYS } } };
  for (const row of filled) {
    const key = row.key.trim();
    if (!KEY_PATTERN.test(key)) return { problem: { message: "metadata.badKey", values: { key } } };
    if (key in metadata) return { problem: { message: "metadata.duplicateKey", values: { key } } };
    const parsed = value({ ...row, key });
    if (typeof parsed === "object" && !Array.isArray(parsed)) return { problem: parsed };
    metadata[key] = parsed;
  }
  return { metadata };
}

export function checkGroups(groups: string[]): Problem | null {
  if (groups.length > MAX_GROUPS) return { message: "access.tooMany", values: { max: MAX_GROUPS } };
  const bad = groups.find((group) => !GROUP_PATTERN.test(group));
  return bad === undefined ? null : { message: "access.badGroup", values: { group: bad } };
}

/**
 * `department=HR, year=2026` → conditions; a document matches when every condition does
 * (equal as text, or a member of a list). Applied to the documents loaded so far.
 */
export function parseFilter(text: string): [string, string][] {
  return text
    .split(/[,;]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const at = part.indexOf("=");
      return at < 0 ? [part, ""] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    });
}

export function matchesFilter(metadata: Metadata, conditions: [string, string][]): boolean {
  return conditions.every(([key, expected]) => {
    if (!(key in metadata)) return false;
    const actual = metadata[key];
    if (expected === "") return true;
    if (Array.isArray(actual)) return actual.some((item) => item.toLowerCase() === expected.toLowerCase());
    return String(actual).toLowerCase() === expected.toLowerCase();
  });
}
