/**
 * docpipe's HTTP API as the console uses it (docs/api.md). Every call carries the
 * session's bearer token when there is one; errors arrive as problem+json and become an
 * `ApiError` whose `detail` is the service's own words.
 */
import type { Session } from "./auth";
import type { ConsoleConfig } from "./config";
import { readEvents } from "./sse";

export type Status = "awaiting_upload" | "queued" | "processing" | "completed" | "failed";
export const STATUSES: Status[] = ["awaiting_upload", "queued", "processing", "completed", "failed"];
export const FINAL: ReadonlySet<Status> = new Set(["completed", "failed"]);

export type MetadataValue = string | number | boolean | string[];
export type Metadata = Record<string, MetadataValue>;

export interface Document {
  id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  status: Status;
  page_count: number | null;
  chunk_count: number | null;
  error: string | null;
  warnings: string[];
  metadata: Metadata;
  /** document access groups; absent from APIs that predate them */
  access?: string[];
  created_at: string;
  updated_at: string;
  processed_at: string | null;
  duplicate?: boolean;
}

export interface PresignedUpload {
  url: string;
  fields: Record<string, string>;
  expires_at: string;
  max_bytes: number;
}

export interface Citation {
  document_id: string;
  filename: string;
  page_start: number | null;
  page_end: number | null;
  chunk_id: string;
}

export interface Source extends Citation {
  n: number;
}

export interface SourcesEvent {
  conversation_id: string;
  message_id: string;
  standalone_query: string;
  sources: Source[];
}

export interface AnswerDone {
  answer: string;
  citations: Citation[];
  model: string;
  conversation_id: string;
  message_id: string;
  standalone_query: string;
}

export interface ConversationSummary {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
}

export interface Message {
  id: string;
  role: "user" | "assistant";
  content: string;
  citations?: Citation[] | null;
  created_at: string;
}

export interface Conversation {
  id: string;
  title: string;
  created_at: string;
  messages: Message[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export interface StreamHandlers {
  onSources(sources: SourcesEvent): void;
  onDelta(text: string): void;
}

type Base = "upload" | "query" | "stream";

export class Api {
  constructor(
    private readonly config: ConsoleConfig,
    private readonly session: Session,
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  private base(which: Base): string {
    return which === "upload" ? this.config.uploadApi : which === "query" ? this.config.queryApi : this.config.streamApi;
  }

  private async send(which: Base, path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const token = await this.session.token();
    if (token) headers.set("Authorization", `Bearer ${token}`);
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    let response: Response;
    try {
      response = await fetch(`${this.base(which)}${path}`, { ...init, headers });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new ApiError(0, "the service could not be reached");
    }
    if (!response.ok) throw await this.problem(response);
    return response;
  }

  private async problem(response: Response): Promise<ApiError> {
    if (response.status === 401) this.onUnauthorized();
    const body = (await response.json().catch(() => null)) as { detail?: unknown; title?: unknown } | null;
    const detail = body?.detail ?? body?.title ?? response.statusText;
    return new ApiError(response.status, String(detail || `HTTP ${response.status}`));
  }

  private async json<T>(which: Base, path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.send(which, path, init);
    return (await response.json()) as T;
  }

  private body(method: string, value: unknown): RequestInit {
    return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(value) };
  }

  listDocuments(options: { status?: Status | ""; cursor?: string | null; limit?: number } = {}) {
    const query = new URLSearchParams({ limit: String(options.limit ?? 50) });
    if (options.status) query.set("status", options.status);
    if (options.cursor) query.set("cursor", options.cursor);
    return this.json<{ documents: Document[]; next_cursor: string | null }>("upload", `/v1/documents?${query}`);
  }

  getDocument(id: string) {
    return this.json<Document>("upload", `/v1/documents/${encodeURIComponent(id)}`);
  }

  updateDocument(id: string, changes: { metadata?: Metadata; access?: string[] }) {
    return this.json<Document>("upload", `/v1/documents/${encodeURIComponent(id)}`, this.body("PATCH", changes));
  }

  async deleteDocument(id: string): Promise<void> {
    await this.send("upload", `/v1/documents/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  reprocess(id: string) {
    return this.json<Document>("upload", `/v1/documents/${encodeURIComponent(id)}/reprocess`, { method: "POST" });
  }

  /** One file through the API (small files): `202 {"documents": [Document]}`. */
  async uploadDirect(file: File): Promise<Document> {
    const form = new FormData();
    form.append("file", file, file.name);
    const { documents } = await this.json<{ documents: Document[] }>("upload", "/v1/documents", {
      method: "POST",
      body: form,
    });
    const [document] = documents;
    if (!document) throw new ApiError(500, "the upload service answered without a document");
    return document;
  }

  /** Step 1 of a large upload: a document awaiting its bytes and an S3 form to send them to. */
  createUpload(file: { filename: string; content_type: string; size_bytes: number }) {
    return this.json<{ document: Document; upload: PresignedUpload }>("upload", "/v1/uploads", this.body("POST", file));
  }

  /** A short-lived link to a document's original file (`Accept: application/json`). */
  contentLink(id: string) {
    return this.json<{ url: string; expires_at: string }>("upload", `/v1/documents/${encodeURIComponent(id)}/content`);
  }

  listConversations(cursor?: string | null) {
    const query = new URLSearchParams({ limit: "50" });
    if (cursor) query.set("cursor", cursor);
    return this.json<{ conversations: ConversationSummary[]; next_cursor: string | null }>(
      "query",
      `/v1/conversations?${query}`,
    );
  }

  getConversation(id: string) {
    return this.json<Conversation>("query", `/v1/conversations/${encodeURIComponent(id)}`);
  }

  async deleteConversation(id: string): Promise<void> {
    await this.send("query", `/v1/conversations/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /**
   * `POST /v1/answer` with `stream: true`: sources first, then text as it is produced, then
   * the whole answer. A route that buffers (an HTTP API) delivers the same events at once.
   */
  async streamAnswer(
    request: { query: string; conversation_id?: string | null },
    handlers: StreamHandlers,
    signal?: AbortSignal,
  ): Promise<AnswerDone> {
    const init = this.body("POST", { ...request, stream: true });
    const response = await this.send("stream", "/v1/answer", {
      ...init,
      headers: { ...(init.headers as Record<string, string>), Accept: "text/event-stream" },
      signal,
    });
    if (!response.body) throw new ApiError(502, "the answer stream had no body");
    for await (const { event, data } of readEvents(response.body)) {
      const value: unknown = JSON.parse(data);
      if (event === "sources") handlers.onSources(value as SourcesEvent);
      else if (event === "delta") handlers.onDelta((value as { text: string }).text);
      else if (event === "done") return value as AnswerDone;
      else if (event === "error") {
        const problem = value as { status?: number; detail?: string };
        throw new ApiError(problem.status ?? 502, problem.detail ?? "the answer failed");
      }
    }
    throw new ApiError(502, "the answer stream ended early");
  }
}
