import { describe, expect, it } from "vitest";
import type { Citation, Source } from "./api";
import { citedSources, sourcesFromCitations, splitMarkers } from "./citations";

const citation = (id: string): Citation => ({
  document_id: id,
  filename: `${id}.pdf`,
  page_start: 1,
  page_end: 1,
  chunk_id: `chunk-${id}`,
});

describe("citations", () => {
  it("splits text at [n] markers", () => {
    expect(splitMarkers("Fifteen days [2], or more [10].")).toEqual(["Fifteen days ", 2, ", or more ", 10, "."]);
  });

  it("lists the sources a streamed answer cites, in citation order", () => {
    const sources: Source[] = [1, 2, 3].map((n) => ({ ...citation(`d${n}`), n }));
    expect(citedSources("[3] then [1] and [3] again, [9] matches nothing", sources).map((s) => s.n)).toEqual([3, 1]);
  });

  it("numbers a stored answer's citations by its markers", () => {
    const sources = sourcesFromCitations("A [2]. B [5]. A again [2].", [citation("a"), citation("b")]);
    expect(sources.map((s) => [s.n, s.document_id])).toEqual([
      [2, "a"],
      [5, "b"],
    ]);
    // markers and citations disagree: listed, not linked
    expect(sourcesFromCitations("[1] [2] [3]", [citation("a")]).map((s) => s.n)).toEqual([-1]);
  });
});
