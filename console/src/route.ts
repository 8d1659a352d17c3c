/**
 * Hash routes (`#/chat`, `#/chat/<conversation id>`, `#/library`): the console is static
 * files in a bucket, so every view must load from the one index.html without a rewrite rule.
 */
import { useEffect, useState } from "preact/hooks";

export type Route = { view: "chat"; conversationId: string | null } | { view: "library" };

export function parseRoute(hash: string): Route {
  const [view, id] = hash.replace(/^#\/?/, "").split("/");
  if (view === "library") return { view: "library" };
  return { view: "chat", conversationId: id ? decodeURIComponent(id) : null };
}

export function chatHref(conversationId: string | null): string {
  return conversationId ? `#/chat/${encodeURIComponent(conversationId)}` : "#/chat";
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}
