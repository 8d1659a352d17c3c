import { describe, expect, it } from "vitest";
import { EventStreamParser, readEvents } from "./sse";

describe("EventStreamParser", () => {
  it("dispatches on blank lines, across arbitrary chunk boundaries", () => {
    const text = 'event: sources\ndata: {"n":1}\n\nevent: delta\ndata: {"text":"a"}\n\n';
    for (let cut = 1; cut < text.length; cut += 1) {
      const parser = new EventStreamParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      expect(events).toEqual([
        { event: "sources", data: '{"n":1}' },
        { event: "delta", data: '{"text":"a"}' },
      ]);
    }
  });

  it("accepts CRLF and CR line ends, joins data lines, skips comments", () => {
    const parser = new EventStreamParser();
    expect(parser.push(": keep-alive\r\nevent: done\r\ndata: a\r\ndata: b\r\n\r")).toEqual([]);
    expect(parser.push("\n")).toEqual([{ event: "done", data: "a\nb" }]);
    expect(parser.push("data:x\r\r")).toEqual([]); // a CR at the end may begin a CRLF
    expect(parser.push("\n")).toEqual([{ event: "message", data: "x" }]);
  });

  it("reads a fetch body with multi-byte characters split between chunks", async () => {
    const bytes = new TextEncoder().encode('event: delta\ndata: {"text":"請假"}\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 25));
        controller.enqueue(bytes.slice(25));
        controller.close();
      },
    });
    const events = [];
    for await (const event of readEvents(body)) events.push(event);
    expect(events).toEqual([{ event: "delta", data: '{"text":"請假"}' }]);
  });
});
