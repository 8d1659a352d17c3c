import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, type Document, FINAL, STATUSES, type Status } from "./api";
import { useServices } from "./context";
import { DocumentEditor } from "./editor";
import { type MessageKey, useI18n } from "./i18n";
import { matchesFilter, parseFilter } from "./metadata";
import { uploadFile } from "./upload";

/** How often documents still on their way are asked for again. */
const POLL_MS = 1500;
/** Uploads sent at once. */
const PARALLEL_UPLOADS = 3;

interface UploadItem {
  key: string;
  name: string;
  sent: number;
  total: number;
  state: "uploading" | "uploaded" | "duplicate" | "failed";
  detail?: string;
}

function detailOf(error: unknown): string {
  return error instanceof ApiError ? error.detail : String(error);
}

function StatusBadge({ status }: { status: Status }) {
  const { t } = useI18n();
  return <span class={`status status-${status}`}>{t(`status.${status}` as MessageKey)}</span>;
}

function DropZone({ onFiles }: { onFiles(files: File[]): void }) {
  const { t } = useI18n();
  const [over, setOver] = useState(false);
  return (
    <div
      class={`dropzone${over ? " over" : ""}`}
      onDragOver={(event) => {
        event.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(event) => {
        event.preventDefault();
        setOver(false);
        onFiles([...(event.dataTransfer?.files ?? [])]);
      }}
    >
      <p>
        {t("library.drop")}{" "}
        <label class="button" for="files">
          {t("library.choose")}
        </label>
        <input
          id="files"
          class="visually-hidden"
          type="file"
          multiple
          aria-describedby="formats"
          onChange={(event) => {
            onFiles([...(event.currentTarget.files ?? [])]);
            event.currentTarget.value = "";
          }}
        />
      </p>
      <p id="formats" class="hint">
        {t("library.formats")}
      </p>
    </div>
  );
}

function UploadList({ items }: { items: UploadItem[] }) {
  const { t, formatBytes } = useI18n();
  if (!items.length) return null;
  return (
    <section class="uploads" aria-labelledby="uploads-title">
      <h2 id="uploads-title">{t("library.uploads")}</h2>
      <ul>
        {items.map((item) => (
          <li key={item.key} class={`upload upload-${item.state}`}>
            <span class="name">{item.name}</span>
            {item.state === "uploading" ? (
              <progress max={item.total} value={item.sent} aria-label={`${t("library.uploading")} ${item.name}`}>
                {formatBytes(item.sent)}
              </progress>
            ) : item.state === "failed" ? (
              <span class="error">{t("library.uploadFailed", { detail: item.detail ?? "" })}</span>
            ) : (
              <span class="muted">{t(item.state === "duplicate" ? "library.duplicate" : "library.uploaded")}</span>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

function DocumentRow({
  document,
  onEdit,
  onReprocess,
  onDelete,
}: {
  document: Document;
  onEdit(): void;
  onReprocess(): void;
  onDelete(): void;
}) {
  const { t, formatDate, formatBytes } = useI18n();
  const file = document.filename;
  const entries = Object.entries(document.metadata);
  return (
    <tr data-document-id={document.id} data-status={document.status}>
      <th scope="row" class="name">
        <button type="button" class="link" onClick={onEdit} aria-label={t("library.edit", { file })}>
          {file}
        </button>
        {entries.length > 0 && (
          <ul class="chips">
            {entries.map(([key, value]) => (
              <li key={key}>
                {key}={Array.isArray(value) ? value.join("|") : String(value)}
              </li>
            ))}
          </ul>
        )}
        {document.access && document.access.length > 0 && (
          <ul class="chips access" aria-label={t("editor.access")}>
            {document.access.map((group) => (
              <li key={group}>{group}</li>
            ))}
          </ul>
        )}
      </th>
      <td>
        <StatusBadge status={document.status} />
        {document.error && <p class="error reason">{document.error}</p>}
        {document.warnings.length > 0 && (
          <details class="warnings">
            <summary>
              {t("library.warnings")} ({document.warnings.length})
            </summary>
            <ul>
              {document.warnings.map((warning) => (
                <li key={warning}>{warning}</li>
              ))}
            </ul>
          </details>
        )}
      </td>
      <td class="number">{document.page_count ?? "—"}</td>
      <td class="number">{document.chunk_count ?? "—"}</td>
      <td class="number">{formatBytes(document.size_bytes)}</td>
      <td>{formatDate(document.created_at)}</td>
      <td class="actions">
        <button
          type="button"
          class="secondary"
          onClick={onReprocess}
          disabled={document.status === "awaiting_upload" || document.status === "processing"}
          aria-label={t("library.reprocess", { file })}
        >
          {t("library.reprocessButton")}
        </button>
        <button type="button" class="danger" onClick={onDelete} aria-label={t("library.delete", { file })}>
          {t("library.deleteButton")}
        </button>
      </td>
    </tr>
  );
}

export function Library() {
  const { t } = useI18n();
  const { api, announce } = useServices();
  const [documents, setDocuments] = useState<Document[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [problem, setProblem] = useState("");
  const [status, setStatus] = useState<Status | "">("");
  const [nameFilter, setNameFilter] = useState("");
  const [metadataFilter, setMetadataFilter] = useState("");
  const [uploads, setUploads] = useState<UploadItem[]>([]);
  const [editing, setEditing] = useState<Document | null>(null);
  const documentsRef = useRef(documents);
  documentsRef.current = documents;

  const load = useCallback(
    async (more: string | null = null) => {
      try {
        const page = await api.listDocuments({ status, cursor: more });
        setDocuments((current) => (more ? [...current, ...page.documents] : page.documents));
        setCursor(page.next_cursor);
        setProblem("");
      } catch (error) {
        setProblem(t("library.loadFailed", { detail: detailOf(error) }));
      } finally {
        setLoaded(true);
      }
    },
    [api, status, t],
  );

  useEffect(() => {
    void load();
  }, [load]);

  const replace = useCallback((next: Document) => {
    setDocuments((current) => {
      const found = current.some((document) => document.id === next.id);
      return found ? current.map((document) => (document.id === next.id ? next : document)) : [next, ...current];
    });
  }, []);

  // Live status: documents not yet completed or failed are asked for again until they are.
  useEffect(() => {
    const timer = setInterval(async () => {
      const pending = documentsRef.current.filter((document) => !FINAL.has(document.status)).slice(0, 20);
      for (const document of pending) {
        try {
          const fresh = await api.getDocument(document.id);
          if (fresh.status !== document.status) {
            announce(t("library.statusChanged", { file: fresh.filename, status: t(`status.${fresh.status}` as MessageKey) }));
          }
          replace(fresh);
        } catch (error) {
          if (error instanceof ApiError && error.status === 404) {
            setDocuments((current) => current.filter((d) => d.id !== document.id));
          }
        }
      }
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [api, announce, replace, t]);

  const upload = async (files: File[]) => {
    const items = files.map((file, index) => ({ file, key: `${Date.now()}-${index}-${file.name}` }));
    setUploads((current) => [
      ...items.map(({ file, key }) => ({ key, name: file.name, sent: 0, total: file.size, state: "uploading" as const })),
      ...current,
    ]);
    const change = (key: string, patch: Partial<UploadItem>) =>
      setUploads((current) => current.map((item) => (item.key === key ? { ...item, ...patch } : item)));
    const queue = [...items];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { file, key } = next;
        try {
          const document = await uploadFile(api, file, (sent, total) => change(key, { sent, total }));
          change(key, { state: document.duplicate ? "duplicate" : "uploaded", sent: file.size });
          replace(document);
        } catch (error) {
          change(key, { state: "failed", detail: detailOf(error) });
          announce(t("library.uploadFailed", { detail: `${file.name}: ${detailOf(error)}` }));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, items.length) }, worker));
  };

  const act = async (document: Document, action: () => Promise<void>) => {
    try {
      await action();
    } catch (error) {
      setProblem(t("library.actionFailed", { file: document.filename, detail: detailOf(error) }));
    }
  };

  const reprocess = (document: Document) =>
    act(document, async () => {
      replace(await api.reprocess(document.id));
      announce(t("library.reprocessing", { file: document.filename }));
    });

  const remove = (document: Document) => {
    if (!confirm(t("library.confirmDelete", { file: document.filename }))) return;
    void act(document, async () => {
      await api.deleteDocument(document.id);
      setDocuments((current) => current.filter((d) => d.id !== document.id));
      announce(t("library.deleted", { file: document.filename }));
    });
  };

  const visible = useMemo(() => {
    const conditions = parseFilter(metadataFilter);
    const needle = nameFilter.trim().toLowerCase();
    return documents.filter(
      (document) =>
        (!status || document.status === status) &&
        (!needle || document.filename.toLowerCase().includes(needle)) &&
        matchesFilter(document.metadata, conditions),
    );
  }, [documents, status, nameFilter, metadataFilter]);

  return (
    <div class="library">
      <h1>{t("library.heading")}</h1>
      <DropZone onFiles={(files) => void upload(files)} />
      <UploadList items={uploads} />
      <form class="filters" role="search" aria-label={t("library.filters")} onSubmit={(event) => event.preventDefault()}>
        <label>
          {t("library.status")}
          <select value={status} onChange={(event) => setStatus(event.currentTarget.value as Status | "")}>
            <option value="">{t("library.allStatuses")}</option>
            {STATUSES.map((value) => (
              <option key={value} value={value}>
                {t(`status.${value}` as MessageKey)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("library.name")}
          <input type="search" value={nameFilter} onInput={(event) => setNameFilter(event.currentTarget.value)} />
        </label>
        <label>
          {t("library.metadata")}
          <input
            type="search"
            value={metadataFilter}
            placeholder="department=HR"
            aria-describedby="metadata-hint"
            onInput={(event) => setMetadataFilter(event.currentTarget.value)}
          />
        </label>
        <span id="metadata-hint" class="hint">
          {t("library.metadataHint")}
        </span>
        <button type="button" class="secondary" onClick={() => void load()}>
          {t("library.refresh")}
        </button>
      </form>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {loaded && documents.length === 0 && !problem ? (
        <p class="muted">{t("library.empty")}</p>
      ) : (
        <div class="table-wrap">
          <table class="documents">
            <caption class="visually-hidden">{t("library.table")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("library.col.name")}</th>
                <th scope="col">{t("library.col.status")}</th>
                <th scope="col" class="number">{t("library.col.pages")}</th>
                <th scope="col" class="number">{t("library.col.chunks")}</th>
                <th scope="col" class="number">{t("library.col.size")}</th>
                <th scope="col">{t("library.col.uploaded")}</th>
                <th scope="col">{t("library.col.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {visible.map((document) => (
                <DocumentRow
                  key={document.id}
                  document={document}
                  onEdit={() => setEditing(document)}
                  onReprocess={() => void reprocess(document)}
                  onDelete={() => remove(document)}
                />
              ))}
            </tbody>
          </table>
          {documents.length > 0 && visible.length === 0 && <p class="muted">{t("library.noMatch")}</p>}
        </div>
      )}
      {cursor && (
        <button type="button" class="secondary" onClick={() => void load(cursor)}>
          {t("library.more")}
        </button>
      )}
      {editing && (
        <DocumentEditor
          document={documents.find((document) => document.id === editing.id) ?? editing}
          onSaved={(saved) => {
            replace(saved);
            setEditing(null);
            announce(t("editor.saved"));
          }}
          onClose={() => setEditing(null)}
        />
      )}
    </div>
  );
}
