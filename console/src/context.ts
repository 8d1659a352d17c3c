import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Api } from "./api";
import type { Session } from "./auth";
import type { ConsoleConfig } from "./config";

export interface Services {
  config: ConsoleConfig;
  session: Session;
  api: Api;
  /** Say something to screen-reader users through the page's polite live region. */
  announce(message: string): void;
}

export const ServicesContext = createContext<Services | null>(null);

export function useServices(): Services {
  const value = useContext(ServicesContext);
  if (!value) throw new Error("useServices outside ServicesContext");
  return value;
}
