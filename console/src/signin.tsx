import { useState } from "preact/hooks";
import { AuthError } from "./auth";
import { useServices } from "./context";
import { useI18n } from "./i18n";

export function SignIn({ expired, error, onSignedIn }: { expired: boolean; error?: string; onSignedIn(): void }) {
  const { t } = useI18n();
  const { session } = useServices();
  const [token, setToken] = useState("");
  const [problem, setProblem] = useState(error ?? "");

  const submitToken = (event: Event) => {
    event.preventDefault();
    try {
      session.useToken(token);
      onSignedIn();
    } catch (caught) {
      setProblem(caught instanceof AuthError || caught instanceof Error ? caught.message : String(caught));
    }
  };

  return (
    <section class="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">{t("signIn.title")}</h1>
      {expired && <p class="notice">{t("signIn.expired")}</p>}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {session.config.mode === "cognito" ? (
        <>
          <p>{t("signIn.cognito")}</p>
          <button type="button" onClick={() => void session.signIn()}>
            {t("account.signIn")}
          </button>
        </>
      ) : (
        <form onSubmit={submitToken}>
          <p id="token-intro">{t("signIn.tokenIntro")}</p>
          <label for="token">{t("signIn.tokenLabel")}</label>
          <textarea
            id="token"
            rows={4}
            required
            spellcheck={false}
            autocomplete="off"
            aria-describedby="token-intro"
            value={token}
            onInput={(event) => setToken(event.currentTarget.value)}
          />
          <button type="submit">{t("signIn.useToken")}</button>
        </form>
      )}
    </section>
  );
}
