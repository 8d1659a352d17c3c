/**
 * An answer cites its sources as `[n]`. A streamed answer names each source's `n`; an answer
 * read back from a conversation has only `citations`, in order of first citation
 * (docs/api.md), so the k-th distinct marker of its text is its k-th citation.
 */
import type { Citation, Source } from "./api";

const MARKER = /\[(\d{1,3})\]/g;

/** Text split into plain runs and marker numbers, in order. */
export function splitMarkers(text: string): (string | number)[] {
  const out: (string | number)[] = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(Number(match[1]));
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function distinctMarkers(text: string): number[] {
  return [...new Set(splitMarkers(text).filter((part): part is number => typeof part === "number"))];
}

/** The sources a (possibly still streaming) answer has cited so far, in citation order. */
export function citedSources(text: string, sources: Source[]): Source[] {
  const byNumber = new Map(sources.map((source) => [source.n, source]));
  return distinctMarkers(text)
    .map((n) => byNumber.get(n))
    .filter((source): source is Source => source !== undefined);
}

/**
 * Numbered sources for an answer read back from a conversation. When the markers and the
 * citations do not line up (a marker that matched no source was dropped by the service),
 * the citations are listed without linking the markers.
 */
export function sourcesFromCitations(text: string, citations: Citation[]): Source[] {
  const markers = distinctMarkers(text);
  if (markers.length === citations.length) {
    return citations.map((citation, index) => ({ ...citation, n: markers[index] ?? index + 1 }));
  }
  return citations.map((citation, index) => ({ ...citation, n: -(index + 1) }));
}

export function pages(source: Citation): { start: number; end: number } | null {
  if (source.page_start == null) return null;
  return { start: source.page_start, end: source.page_end ?? source.page_start };
}
