import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError, type Document } from "./api";
import { useServices } from "./context";
import { type MessageKey, isMessageKey, useI18n } from "./i18n";
import { type Kind, type Problem, type Row, checkGroups, fromRows, toRows } from "./metadata";
import { openSource } from "./sources";

const KINDS: Kind[] = ["text", "number", "boolean", "list"];

function MetadataRows({ rows, onChange }: { rows: Row[]; onChange(rows: Row[]): void }) {
  const { t } = useI18n();
  const set = (index: number, patch: Partial<Row>) =>
    onChange(rows.map((row, i) => (i === index ? { ...row, ...patch } : row)));
  return (
    <fieldset class="metadata">
      <legend>{t("editor.metadata")}</legend>
      <p class="hint" id="metadata-editor-hint">
        {t("editor.metadataHint")}
      </p>
      {rows.map((row, index) => (
        <div class="metadata-row" key={index}>
          <input
            value={row.key}
            aria-label={`${t("editor.key")} ${index + 1}`}
            placeholder={t("editor.key")}
            autocomplete="off"
            spellcheck={false}
            onInput={(event) => set(index, { key: event.currentTarget.value })}
          />
          <select
            value={row.kind}
            aria-label={`${t("editor.kind")} ${index + 1}`}
            onChange={(event) => {
              const kind = event.currentTarget.value as Kind;
              set(index, { kind, text: kind === "boolean" ? "true" : row.text });
            }}
          >
            {KINDS.map((kind) => (
              <option key={kind} value={kind}>
                {t(`editor.kind.${kind}` as MessageKey)}
              </option>
            ))}
          </select>
          {row.kind === "boolean" ? (
            <select
              value={row.text}
              aria-label={`${t("editor.value")} ${index + 1}`}
              onChange={(event) => set(index, { text: event.currentTarget.value })}
            >
              <option value="true">{t("editor.yes")}</option>
              <option value="false">{t("editor.no")}</option>
            </select>
          ) : (
            <input
              value={row.text}
              aria-label={`${t("editor.value")} ${index + 1}`}
              inputMode={row.kind === "number" ? "decimal" : undefined}
              placeholder={t("editor.value")}
              onInput={(event) => set(index, { text: event.currentTarget.value })}
            />
          )}
          <button
            type="button"
            class="icon"
            aria-label={t("editor.removeField", { key: row.key || String(index + 1) })}
            title={t("editor.removeField", { key: row.key || String(index + 1) })}
            onClick={() => onChange(rows.filter((_, i) => i !== index))}
          >
            ×
          </button>
        </div>
      ))}
      <button type="button" class="secondary" onClick={() => onChange([...rows, { key: "", kind: "text", text: "" }])}>
        {t("editor.addField")}
      </button>
    </fieldset>
  );
}

function AccessGroups({ groups, onChange }: { groups: string[]; onChange(groups: string[]): void }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState("");
  const add = () => {
    const group = draft.trim();
    if (group && !groups.includes(group)) onChange([...groups, group]);
    setDraft("");
  };
  return (
    <fieldset class="access">
      <legend>{t("editor.access")}</legend>
      <p class="hint">{t("editor.accessHint")}</p>
      {groups.length === 0 ? (
        <p class="muted">{t("editor.accessEveryone")}</p>
      ) : (
        <ul class="chips removable">
          {groups.map((group) => (
            <li key={group}>
              {group}
              <button
                type="button"
                class="icon"
                aria-label={t("editor.removeGroup", { group })}
                title={t("editor.removeGroup", { group })}
                onClick={() => onChange(groups.filter((g) => g !== group))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div class="add-group">
        <input
            value={draft}
            aria-label={t("editor.group")}
            placeholder={t("editor.group")}
            autocomplete="off"
            spellcheck={false}
            onInput={(event) => setDraft(event.currentTarget.value)}
            onKeyDown={(event) => {
              if (event.key === "Enter" && !event.isComposing) {
                event.preventDefault();
                add();
              }
            }}
          />
        <button type="button" class="secondary" onClick={add}>
          {t("editor.addGroup")}
        </button>
      </div>
    </fieldset>
  );
}

export function DocumentEditor({
  document,
  onSaved,
  onClose,
}: {
  document: Document;
  onSaved(document: Document): void;
  onClose(): void;
}) {
  const { t, formatBytes, formatDate } = useI18n();
  const { api } = useServices();
  const dialog = useRef<HTMLDialogElement>(null);
  const [rows, setRows] = useState<Row[]>(() => toRows(document.metadata));
  // Access groups are edited only where the API reports them (older APIs do not).
  const [supportsAccess] = useState(() => Array.isArray(document.access));
  const [groups, setGroups] = useState<string[]>(() => document.access ?? []);
  const [problem, setProblem] = useState("");
  const [saving, setSaving] = useState(false);

  // A layout effect, not useEffect: Preact defers a passive effect's unmount cleanup to
  // after paint, by which time the open dialog has been removed and focus has fallen to
  // <body>. A layout cleanup runs in the commit, while the dialog is still in the page, so
  // focus goes straight back to the control that opened it.
  useLayoutEffect(() => {
    const element = dialog.current;
    if (!element) return;
    const opener = globalThis.document.activeElement as HTMLElement | null;
    element.showModal();
    return () => {
      // Closed first: while a modal dialog is open the rest of the page is inert.
      if (element.open) element.close();
      opener?.focus();
    };
  }, []);

  const say = (found: Problem) =>
    setProblem(isMessageKey(found.message) ? t(found.message, found.values) : found.message);

  const save = async (event: Event) => {
    event.preventDefault();
    const parsed = fromRows(rows);
    if ("problem" in parsed) return say(parsed.problem);
    const groupProblem = supportsAccess ? checkGroups(groups) : null;
    if (groupProblem) return say(groupProblem);
    setSaving(true);
    try {
      onSaved(
        await api.updateDocument(document.id, supportsAccess ? { metadata: parsed.metadata, access: groups } : { metadata: parsed.metadata }),
      );
    } catch (error) {
      setProblem(error instanceof ApiError ? error.detail : String(error));
    } finally {
      setSaving(false);
    }
  };

  const openOriginal = () =>
    openSource(api, { document_id: document.id, filename: document.filename, page_start: null, page_end: null, chunk_id: "" }).catch(
      (error: unknown) => setProblem(error instanceof ApiError ? error.detail : String(error)),
    );

  return (
    <dialog ref={dialog} class="editor" aria-labelledby="editor-title" onClose={onClose}>
      <form method="dialog" onSubmit={save}>
        <h2 id="editor-title">{t("editor.title", { file: document.filename })}</h2>
        <dl class="details">
          <dt>{t("library.col.status")}</dt>
          <dd>{t(`status.${document.status}` as MessageKey)}</dd>
          <dt>{t("editor.type")}</dt>
          <dd>{document.content_type}</dd>
          <dt>{t("editor.size")}</dt>
          <dd>{formatBytes(document.size_bytes)}</dd>
          {document.processed_at && (
            <>
              <dt>{t("editor.processed")}</dt>
              <dd>{formatDate(document.processed_at)}</dd>
            </>
          )}
        </dl>
        {document.status !== "awaiting_upload" && (
          <button type="button" class="link" onClick={() => void openOriginal()}>
            {t("editor.open")}
          </button>
        )}
        <MetadataRows rows={rows} onChange={setRows} />
        {supportsAccess && <AccessGroups groups={groups} onChange={setGroups} />}
        {problem && (
          <p class="error" role="alert">
            {problem}
          </p>
        )}
        <div class="dialog-actions">
          <button type="submit" disabled={saving}>
            {t("editor.save")}
          </button>
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
            {t("editor.cancel")}
          </button>
        </div>
      </form>
    </dialog>
  );
}
