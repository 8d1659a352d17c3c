import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Api } from "./api";
import type { Session } from "./auth";
import { Chat } from "./chat";
import type { ConsoleConfig } from "./config";
import { type Services, ServicesContext } from "./context";
import { I18nContext, LOCALES, type Locale, initialLocale, makeI18n, saveLocale } from "./i18n";
import { Library } from "./library";
import { useRoute } from "./route";
import { SignIn } from "./signin";

export function App({ config, session, signInError }: { config: ConsoleConfig; session: Session; signInError?: string }) {
  const [locale, setLocale] = useState<Locale>(initialLocale);
  const i18n = useMemo(
    () =>
      makeI18n(locale, (next) => {
        saveLocale(next);
        setLocale(next);
      }),
    [locale],
  );
  const { t } = i18n;
  const [signedIn, setSignedIn] = useState(() => !session.needsToken || session.user() !== null);
  const [expired, setExpired] = useState(false);
  const [announcement, setAnnouncement] = useState("");
  const announce = useCallback((message: string) => {
    // Cleared first, so the same words said twice are announced twice.
    setAnnouncement("");
    setTimeout(() => setAnnouncement(message), 50);
  }, []);
  const services = useMemo<Services>(() => {
    const api = new Api(config, session, () => {
      if (session.needsToken) {
        setSignedIn(false);
        setExpired(true);
      }
    });
    return { config, session, api, announce };
  }, [config, session, announce]);
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const firstView = useRef(true);

  useEffect(() => {
    document.documentElement.lang = locale;
    document.title = t("app.title");
  }, [locale, t]);

  useEffect(() => {
    // A new view is announced by moving focus to it (not on the first load).
    if (firstView.current) firstView.current = false;
    else main.current?.focus();
  }, [route.view]);

  const user = signedIn ? session.user() : null;
  const skip = (event: Event) => {
    event.preventDefault();
    main.current?.focus();
  };

  return (
    <I18nContext.Provider value={i18n}>
      <ServicesContext.Provider value={services}>
        <a class="skip-link" href="#main" onClick={skip}>
          {t("app.skip")}
        </a>
        <header class="topbar">
          <span class="brand">
            docpipe{config.environment && <span class="environment">{config.environment}</span>}
          </span>
          <nav aria-label={t("nav.label")} class="nav">
            <a href="#/chat" aria-current={route.view === "chat" ? "page" : undefined}>
              {t("nav.chat")}
            </a>
            <a href="#/library" aria-current={route.view === "library" ? "page" : undefined}>
              {t("nav.library")}
            </a>
          </nav>
          <div class="tools">
            <label class="language">
              <span class="visually-hidden">{t("lang.label")}</span>
              <select value={locale} onChange={(event) => i18n.setLocale(event.currentTarget.value as Locale)}>
                {LOCALES.map((option) => (
                  <option key={option.id} value={option.id} lang={option.id}>
                    {option.label}
                  </option>
                ))}
              </select>
            </label>
            {!session.needsToken ? (
              <span class="account">{t("account.local")}</span>
            ) : user ? (
              <span class="account">
                <span class="user">{user.name}</span>
                <button type="button" class="secondary" onClick={() => (session.signOut(), setSignedIn(false))}>
                  {t("account.signOut")}
                </button>
              </span>
            ) : null}
          </div>
        </header>
        <main id="main" ref={main} tabIndex={-1}>
          {!signedIn ? (
            <SignIn
              expired={expired}
              error={signInError}
              onSignedIn={() => {
                setExpired(false);
                setSignedIn(true);
              }}
            />
          ) : route.view === "library" ? (
            <Library />
          ) : (
            <Chat conversationId={route.conversationId} />
          )}
        </main>
        <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true">
          {announcement}
        </div>
      </ServicesContext.Provider>
    </I18nContext.Provider>
  );
}
