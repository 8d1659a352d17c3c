import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type ConversationSummary, type Source } from "./api";
import { citedSources, pages, sourcesFromCitations, splitMarkers } from "./citations";
import { useServices } from "./context";
import { type Translate, useI18n } from "./i18n";
import { chatHref } from "./route";
import { openSource } from "./sources";

interface Turn {
  key: string;
  role: "user" | "assistant";
  text: string;
  sources: Source[];
  /** assistant turns: still streaming, and what is happening */
  phase?: "searching" | "answering" | "done" | "stopped" | "failed";
  model?: string;
  standaloneQuery?: string;
  error?: string;
}

let keys = 0;
const nextKey = () => `turn-${++keys}`;

function pageLabel(t: Translate, source: Source): string {
  const range = pages(source);
  if (!range) return "";
  return range.start === range.end
    ? t("chat.page", { page: range.start })
    : t("chat.pages", { start: range.start, end: range.end });
}

function AnswerText({ turn, onOpen }: { turn: Turn; onOpen(source: Source): void }) {
  const { t } = useI18n();
  const byNumber = new Map(turn.sources.filter((s) => s.n > 0).map((s) => [s.n, s]));
  return (
    <div class="answer-text">
      {turn.text.split(/\n{2,}/).map((paragraph, p) => (
        <p key={p}>
          {splitMarkers(paragraph).map((part, i) => {
            if (typeof part === "string") {
              return part.split("\n").map((line, l) => (
                <span key={`${i}-${l}`}>
                  {l > 0 && <br />}
                  {line}
                </span>
              ));
            }
            const source = byNumber.get(part);
            if (!source) return <span key={i}>[{part}]</span>;
            const label = `${t("chat.source", { n: part, file: source.filename })} ${pageLabel(t, source)}`.trim();
            return (
              <button key={i} type="button" class="cite" aria-label={label} title={label} onClick={() => onOpen(source)}>
                [{part}]
              </button>
            );
          })}
        </p>
      ))}
    </div>
  );
}

function SourceList({ turn, onOpen }: { turn: Turn; onOpen(source: Source): void }) {
  const { t } = useI18n();
  const cited = turn.phase === "done" || !turn.phase ? turn.sources : citedSources(turn.text, turn.sources);
  if (!cited.length) return null;
  const id = `${turn.key}-sources`;
  return (
    <div class="sources">
      <p class="sources-title" id={id}>
        {t("chat.sources")}
      </p>
      <ol aria-labelledby={id}>
        {cited.map((source) => (
          <li key={`${source.n}-${source.chunk_id}`}>
            <span class="marker" aria-hidden="true">
              [{Math.abs(source.n)}]
            </span>{" "}
            <button type="button" class="link" onClick={() => onOpen(source)}>
              {source.filename}
              {pageLabel(t, source) && <span class="pages">, {pageLabel(t, source)}</span>}
            </button>
          </li>
        ))}
      </ol>
    </div>
  );
}

function TurnView({ turn, onOpen }: { turn: Turn; onOpen(source: Source): void }) {
  const { t } = useI18n();
  const busy = turn.phase === "searching" || turn.phase === "answering";
  return (
    <li class={`turn ${turn.role}`} aria-busy={busy ? "true" : undefined}>
      <p class="speaker">{turn.role === "user" ? t("chat.you") : t("chat.assistant")}</p>
      {turn.role === "user" ? (
        <p class="question-text">{turn.text}</p>
      ) : (
        <>
          {turn.phase === "searching" && <p class="progress">{t("chat.searching")}</p>}
          {turn.text && <AnswerText turn={turn} onOpen={onOpen} />}
          {turn.phase === "answering" && (
            <span class="cursor" aria-hidden="true">
              ▍
            </span>
          )}
          {turn.error && (
            <p class="error" role="alert">
              {turn.error}
            </p>
          )}
          {turn.phase === "stopped" && <p class="notice">{t("chat.stopped")}</p>}
          <SourceList turn={turn} onOpen={onOpen} />
          {turn.model && turn.phase === "done" && (
            <p class="meta">
              {t("chat.model", { model: turn.model })}
              {turn.standaloneQuery && <> · {t("chat.standalone", { query: turn.standaloneQuery })}</>}
            </p>
          )}
        </>
      )}
    </li>
  );
}

function ConversationList({
  conversations,
  current,
  onNew,
  onDelete,
}: {
  conversations: ConversationSummary[];
  current: string | null;
  onNew(): void;
  onDelete(conversation: ConversationSummary): void;
}) {
  const { t } = useI18n();
  return (
    <nav class="conversations" aria-labelledby="conversations-title">
      <h2 id="conversations-title">{t("chat.conversations")}</h2>
      <button type="button" class="new-conversation" onClick={onNew}>
        {t("chat.new")}
      </button>
      {conversations.length === 0 ? (
        <p class="muted">{t("chat.none")}</p>
      ) : (
        <ul>
          {conversations.map((conversation) => (
            <li key={conversation.id} class={conversation.id === current ? "current" : undefined}>
              <a href={chatHref(conversation.id)} aria-current={conversation.id === current ? "page" : undefined}>
                {conversation.title}
              </a>
              <button
                type="button"
                class="icon"
                aria-label={t("chat.delete", { title: conversation.title })}
                title={t("chat.delete", { title: conversation.title })}
                onClick={() => onDelete(conversation)}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
    </nav>
  );
}

export function Chat({ conversationId }: { conversationId: string | null }) {
  const { t } = useI18n();
  const { api, announce } = useServices();
  const [conversations, setConversations] = useState<ConversationSummary[]>([]);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [question, setQuestion] = useState("");
  const [problem, setProblem] = useState("");
  const [streaming, setStreaming] = useState(false);
  /** the conversation the turns on screen belong to (set by a stream before the URL follows) */
  const shown = useRef<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const thread = useRef<HTMLOListElement>(null);

  const refreshList = useCallback(async () => {
    try {
      setConversations((await api.listConversations()).conversations);
    } catch (error) {
      setProblem(error instanceof ApiError ? error.detail : String(error));
    }
  }, [api]);

  useEffect(() => {
    void refreshList();
  }, [refreshList]);

  useEffect(() => {
    if (conversationId === shown.current) return;
    abort.current?.abort();
    shown.current = conversationId;
    setProblem("");
    if (!conversationId) {
      setTurns([]);
      return;
    }
    let cancelled = false;
    api.getConversation(conversationId).then(
      (conversation) => {
        if (cancelled) return;
        setTurns(
          conversation.messages.map((message) => ({
            key: message.id,
            role: message.role,
            text: message.content,
            sources: message.citations ? sourcesFromCitations(message.content, message.citations) : [],
          })),
        );
      },
      (error: unknown) => {
        if (!cancelled) setProblem(t("chat.loadFailed", { detail: error instanceof ApiError ? error.detail : String(error) }));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, conversationId, t]);

  useEffect(() => {
    const list = thread.current;
    if (list) list.lastElementChild?.scrollIntoView({ block: "end" });
  }, [turns]);

  const open = useCallback(
    (source: Source) => {
      openSource(api, source).catch((error: unknown) =>
        setProblem(t("chat.linkFailed", { detail: error instanceof ApiError ? error.detail : String(error) })),
      );
    },
    [api, t],
  );

  const update = (key: string, change: (turn: Turn) => Partial<Turn>) =>
    setTurns((all) => all.map((turn) => (turn.key === key ? { ...turn, ...change(turn) } : turn)));

  const ask = async () => {
    const query = question.trim();
    if (!query || streaming) return;
    setQuestion("");
    setProblem("");
    const answerKey = nextKey();
    setTurns((all) => [
      ...all,
      { key: nextKey(), role: "user", text: query, sources: [] },
      { key: answerKey, role: "assistant", text: "", sources: [], phase: "searching" },
    ]);
    const controller = new AbortController();
    abort.current = controller;
    setStreaming(true);
    announce(t("chat.searching"));
    try {
      const done = await api.streamAnswer(
        { query, conversation_id: shown.current },
        {
          onSources: (event) => {
            update(answerKey, () => ({ sources: event.sources, phase: "answering" }));
            if (shown.current !== event.conversation_id) {
              shown.current = event.conversation_id;
              history.replaceState(null, "", chatHref(event.conversation_id));
            }
          },
          onDelta: (text) => update(answerKey, (turn) => ({ text: turn.text + text, phase: "answering" })),
        },
        controller.signal,
      );
      update(answerKey, (turn) => ({
        text: done.answer,
        sources: citedSources(done.answer, turn.sources),
        phase: "done",
        model: done.model,
        standaloneQuery: done.standalone_query !== query ? done.standalone_query : undefined,
      }));
      announce(t("chat.answered"));
      void refreshList();
    } catch (error) {
      if (controller.signal.aborted) {
        update(answerKey, () => ({ phase: "stopped" }));
        announce(t("chat.stopped"));
      } else {
        const detail = error instanceof ApiError ? error.detail : String(error);
        update(answerKey, () => ({ phase: "failed", error: detail }));
      }
    } finally {
      abort.current = null;
      setStreaming(false);
      input.current?.focus();
    }
  };

  const startNew = () => {
    abort.current?.abort();
    shown.current = null;
    setTurns([]);
    setProblem("");
    if (location.hash !== "#/chat") location.hash = "#/chat";
    input.current?.focus();
  };

  const remove = async (conversation: ConversationSummary) => {
    if (!confirm(t("chat.confirmDelete", { title: conversation.title }))) return;
    try {
      await api.deleteConversation(conversation.id);
      if (conversation.id === shown.current) startNew();
      await refreshList();
    } catch (error) {
      setProblem(error instanceof ApiError ? error.detail : String(error));
    }
  };

  const onKeyDown = (event: KeyboardEvent) => {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME candidate is neither.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void ask();
    }
  };

  return (
    <div class="chat">
      <ConversationList conversations={conversations} current={shown.current} onNew={startNew} onDelete={remove} />
      <section class="thread" aria-labelledby="chat-title">
        <h1 id="chat-title">{t("chat.heading")}</h1>
        {problem && (
          <p class="error" role="alert">
            {problem}
          </p>
        )}
        {turns.length === 0 ? (
          <p class="muted empty">{t("chat.empty")}</p>
        ) : (
          <ol class="turns" ref={thread}>
            {turns.map((turn) => (
              <TurnView key={turn.key} turn={turn} onOpen={open} />
            ))}
          </ol>
        )}
        <form
          class="ask"
          onSubmit={(event) => {
            event.preventDefault();
            void ask();
          }}
        >
          <label for="question">{t("chat.question")}</label>
          <textarea
            id="question"
            ref={input}
            rows={3}
            value={question}
            aria-describedby="question-hint"
            onInput={(event) => setQuestion(event.currentTarget.value)}
            onKeyDown={onKeyDown}
          />
          <p id="question-hint" class="hint">
            {t("chat.hint")}
          </p>
          <div class="actions">
            {streaming ? (
              <button type="button" class="secondary" onClick={() => abort.current?.abort()}>
                {t("chat.stop")}
              </button>
            ) : (
              <button type="submit" disabled={!question.trim()}>
                {t("chat.send")}
              </button>
            )}
          </div>
        </form>
      </section>
    </div>
  );
}
