import { render } from "preact";
import { App } from "./app";
import { AuthError, Session } from "./auth";
import { loadConfig } from "./config";
import "./styles.css";

async function start(root: HTMLElement): Promise<void> {
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    root.replaceChildren();
    const message = document.createElement("p");
    message.className = "error";
    message.setAttribute("role", "alert");
    message.textContent = `主控台無法讀取設定 / The console could not read its settings: ${String(error)}`;
    root.append(message);
    return;
  }
  const session = new Session(config.auth);
  let signInError: string | undefined;
  try {
    await session.completeSignIn();
  } catch (error) {
    signInError = error instanceof AuthError ? error.message : String(error);
  }
  root.replaceChildren();
  render(<App config={config} session={session} signInError={signInError} />, root);
}

const root = document.getElementById("app");
if (root) void start(root);
