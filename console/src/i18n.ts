/**
 * UI text in Traditional Chinese (zh-Hant, the original users' language) and English.
 * The language follows the browser until the user picks one; the choice is remembered.
 */
import { createContext } from "preact";
import { useContext } from "preact/hooks";

const en = {
  "app.title": "docpipe console",
  "app.skip": "Skip to content",
  "app.loading": "Loading…",
  "app.configError": "The console could not read its settings",
  "nav.label": "Main",
  "nav.chat": "Chat",
  "nav.library": "Documents",
  "lang.label": "Language",
  "account.signIn": "Sign in",
  "account.signOut": "Sign out",
  "account.local": "Local (no sign-in)",
  "signIn.title": "Sign in to docpipe",
  "signIn.cognito": "Sign in with your organisation account to ask questions and manage documents.",
  "signIn.tokenIntro": "This API needs a token. Paste a JWT (an ID token) to use it in this tab only.",
  "signIn.tokenLabel": "Token (JWT)",
  "signIn.useToken": "Use token",
  "signIn.expired": "Your session ended; sign in again.",
  "chat.conversations": "Conversations",
  "chat.new": "New conversation",
  "chat.none": "No conversations yet.",
  "chat.delete": "Delete conversation “{title}”",
  "chat.confirmDelete": "Delete the conversation “{title}”?",
  "chat.heading": "Ask about your documents",
  "chat.empty": "Ask a question; answers cite the documents they come from.",
  "chat.question": "Your question",
  "chat.hint": "Enter sends, Shift+Enter starts a new line.",
  "chat.send": "Send",
  "chat.stop": "Stop",
  "chat.you": "You",
  "chat.assistant": "docpipe",
  "chat.answering": "Answering…",
  "chat.searching": "Searching your documents…",
  "chat.answered": "Answer complete.",
  "chat.stopped": "Stopped.",
  "chat.sources": "Sources",
  "chat.source": "Source {n}: {file}",
  "chat.openSource": "Open {file}",
  "chat.page": "p. {page}",
  "chat.pages": "pp. {start}–{end}",
  "chat.model": "Model: {model}",
  "chat.standalone": "Searched for: {query}",
  "chat.loadFailed": "The conversation could not be loaded: {detail}",
  "chat.linkFailed": "The source could not be opened: {detail}",
  "library.heading": "Documents",
  "library.drop": "Drag files here, or",
  "library.choose": "choose files",
  "library.formats": "PDF, Word, Excel, PowerPoint, HTML, CSV, text and Markdown. Large files go straight to storage.",
  "library.uploads": "Uploads",
  "library.uploading": "Uploading",
  "library.uploaded": "Uploaded",
  "library.duplicate": "Already uploaded: the existing document is shown",
  "library.uploadFailed": "Not uploaded: {detail}",
  "library.filters": "Filter documents",
  "library.status": "Status",
  "library.allStatuses": "All statuses",
  "library.name": "Name contains",
  "library.metadata": "Metadata",
  "library.metadataHint": "key=value, separated by commas",
  "library.table": "Your documents",
  "library.col.name": "Name",
  "library.col.status": "Status",
  "library.col.pages": "Pages",
  "library.col.chunks": "Chunks",
  "library.col.size": "Size",
  "library.col.uploaded": "Uploaded",
  "library.col.actions": "Actions",
  "library.empty": "No documents yet. Upload some above.",
  "library.noMatch": "No loaded document matches the filter.",
  "library.more": "Load more",
  "library.refresh": "Refresh",
  "library.edit": "Edit {file}",
  "library.reprocess": "Reprocess {file}",
  "library.reprocessButton": "Reprocess",
  "library.deleteButton": "Delete",
  "library.delete": "Delete {file}",
  "library.confirmDelete": "Delete “{file}”? Its file, text and index are removed.",
  "library.deleted": "{file} deleted.",
  "library.reprocessing": "{file} queued for processing again.",
  "library.statusChanged": "{file}: {status}",
  "library.warnings": "Warnings",
  "library.loadFailed": "Documents could not be loaded: {detail}",
  "library.actionFailed": "{file}: {detail}",
  "status.awaiting_upload": "Awaiting upload",
  "status.queued": "Queued",
  "status.processing": "Processing",
  "status.completed": "Completed",
  "status.failed": "Failed",
  "editor.title": "{file}",
  "editor.details": "Details",
  "editor.type": "Type",
  "editor.size": "Size",
  "editor.processed": "Processed",
  "editor.open": "Open the original file",
  "editor.metadata": "Metadata",
  "editor.metadataHint": "Search and answers can be filtered by these fields; changes apply at once.",
  "editor.key": "Field",
  "editor.kind": "Kind",
  "editor.value": "Value",
  "editor.kind.text": "Text",
  "editor.kind.number": "Number",
  "editor.kind.boolean": "Yes/no",
  "editor.kind.list": "List (comma-separated)",
  "editor.yes": "Yes",
  "editor.no": "No",
  "editor.addField": "Add a field",
  "editor.removeField": "Remove field {key}",
  "editor.access": "Access groups",
  "editor.accessHint": "Only members of these groups see the document; none means everyone in your organisation.",
  "editor.accessEveryone": "Everyone in your organisation",
  "editor.group": "Group name",
  "editor.addGroup": "Add group",
  "editor.removeGroup": "Remove group {group}",
  "editor.save": "Save",
  "editor.cancel": "Cancel",
  "editor.saved": "Saved.",
  "editor.close": "Close",
  "metadata.notNumber": "{key}: not a number",
  "metadata.tooLong": "{key}: at most {max} characters",
  "metadata.tooMany": "at most {max} fields",
  "metadata.badKey": "{key}: a field name starts with a letter or _ and has letters, digits, _ . - (at most 64)",
  "metadata.duplicateKey": "{key}: the field appears twice",
  "access.tooMany": "at most {max} groups",
  "access.badGroup": "{group}: group names have letters, digits and _ . : @ - (at most 128)",
  "error.unreachable": "the service could not be reached",
};

export type MessageKey = keyof typeof en;
type Messages = Record<MessageKey, string>;

const zhHant: Messages = {
  "app.title": "docpipe 主控台",
  "app.skip": "跳到主要內容",
  "app.loading": "載入中…",
  "app.configError": "主控台無法讀取設定",
  "nav.label": "主選單",
  "nav.chat": "問答",
  "nav.library": "文件庫",
  "lang.label": "語言",
  "account.signIn": "登入",
  "account.signOut": "登出",
  "account.local": "本機（免登入）",
  "signIn.title": "登入 docpipe",
  "signIn.cognito": "請以組織帳號登入，即可提問及管理文件。",
  "signIn.tokenIntro": "此 API 需要權杖。請貼上 JWT（ID 權杖），僅在此分頁使用。",
  "signIn.tokenLabel": "權杖（JWT）",
  "signIn.useToken": "使用權杖",
  "signIn.expired": "工作階段已結束，請重新登入。",
  "chat.conversations": "對話",
  "chat.new": "新對話",
  "chat.none": "尚無對話。",
  "chat.delete": "刪除對話「{title}」",
  "chat.confirmDelete": "要刪除對話「{title}」嗎？",
  "chat.heading": "詢問您的文件",
  "chat.empty": "請輸入問題；回答會註明出處文件。",
  "chat.question": "您的問題",
  "chat.hint": "按 Enter 送出，Shift+Enter 換行。",
  "chat.send": "送出",
  "chat.stop": "停止",
  "chat.you": "您",
  "chat.assistant": "docpipe",
  "chat.answering": "回答中…",
  "chat.searching": "正在搜尋您的文件…",
  "chat.answered": "回答完成。",
  "chat.stopped": "已停止。",
  "chat.sources": "出處",
  "chat.source": "出處 {n}：{file}",
  "chat.openSource": "開啟 {file}",
  "chat.page": "第 {page} 頁",
  "chat.pages": "第 {start}–{end} 頁",
  "chat.model": "模型：{model}",
  "chat.standalone": "搜尋內容：{query}",
  "chat.loadFailed": "無法載入對話：{detail}",
  "chat.linkFailed": "無法開啟出處：{detail}",
  "library.heading": "文件庫",
  "library.drop": "將檔案拖曳到這裡，或",
  "library.choose": "選擇檔案",
  "library.formats": "支援 PDF、Word、Excel、PowerPoint、HTML、CSV、純文字及 Markdown。大型檔案會直接上傳至儲存空間。",
  "library.uploads": "上傳",
  "library.uploading": "上傳中",
  "library.uploaded": "已上傳",
  "library.duplicate": "已上傳過：顯示既有文件",
  "library.uploadFailed": "未上傳：{detail}",
  "library.filters": "篩選文件",
  "library.status": "狀態",
  "library.allStatuses": "所有狀態",
  "library.name": "名稱包含",
  "library.metadata": "中繼資料",
  "library.metadataHint": "欄位=值，以逗號分隔",
  "library.table": "您的文件",
  "library.col.name": "名稱",
  "library.col.status": "狀態",
  "library.col.pages": "頁數",
  "library.col.chunks": "區塊",
  "library.col.size": "大小",
  "library.col.uploaded": "上傳時間",
  "library.col.actions": "動作",
  "library.empty": "尚無文件，請由上方上傳。",
  "library.noMatch": "已載入的文件中沒有符合篩選條件者。",
  "library.more": "載入更多",
  "library.refresh": "重新整理",
  "library.edit": "編輯 {file}",
  "library.reprocess": "重新處理 {file}",
  "library.reprocessButton": "重新處理",
  "library.deleteButton": "刪除",
  "library.delete": "刪除 {file}",
  "library.confirmDelete": "要刪除「{file}」嗎？其檔案、文字及索引都會移除。",
  "library.deleted": "已刪除 {file}。",
  "library.reprocessing": "{file} 已重新排入處理。",
  "library.statusChanged": "{file}：{status}",
  "library.warnings": "警告",
  "library.loadFailed": "無法載入文件：{detail}",
  "library.actionFailed": "{file}：{detail}",
  "status.awaiting_upload": "等待上傳",
  "status.queued": "排隊中",
  "status.processing": "處理中",
  "status.completed": "已完成",
  "status.failed": "失敗",
  "editor.title": "{file}",
  "editor.details": "詳細資料",
  "editor.type": "類型",
  "editor.size": "大小",
  "editor.processed": "處理完成時間",
  "editor.open": "開啟原始檔案",
  "editor.metadata": "中繼資料",
  "editor.metadataHint": "搜尋與回答可依這些欄位篩選；變更立即生效。",
  "editor.key": "欄位",
  "editor.kind": "種類",
  "editor.value": "值",
  "editor.kind.text": "文字",
  "editor.kind.number": "數字",
  "editor.kind.boolean": "是／否",
  "editor.kind.list": "清單（以逗號分隔）",
  "editor.yes": "是",
  "editor.no": "否",
  "editor.addField": "新增欄位",
  "editor.removeField": "移除欄位 {key}",
  "editor.access": "存取群組",
  "editor.accessHint": "只有這些群組的成員看得到此文件；未設定則組織內所有人皆可看到。",
  "editor.accessEveryone": "組織內所有人",
  "editor.group": "群組名稱",
  "editor.addGroup": "新增群組",
  "editor.removeGroup": "移除群組 {group}",
  "editor.save": "儲存",
  "editor.cancel": "取消",
  "editor.saved": "已儲存。",
  "editor.close": "關閉",
  "metadata.notNumber": "{key}：不是數字",
  "metadata.tooLong": "{key}：最多 {max} 個字元",
  "metadata.tooMany": "最多 {max} 個欄位",
  "metadata.badKey": "{key}：欄位名稱須以英文字母或 _ 開頭，只含英數字及 _ . -（最多 64 個）",
  "metadata.duplicateKey": "{key}：欄位重複",
  "access.tooMany": "最多 {max} 個群組",
  "access.badGroup": "{group}：群組名稱只含英數字及 _ . : @ -（最多 128 個）",
  "error.unreachable": "無法連線到服務",
};

export type Locale = "zh-Hant" | "en";
export const LOCALES: { id: Locale; label: string }[] = [
  { id: "zh-Hant", label: "繁體中文" },
  { id: "en", label: "English" },
];
const MESSAGES: Record<Locale, Messages> = { en, "zh-Hant": zhHant };
const STORAGE_KEY = "docpipe.locale";

export function initialLocale(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "zh-Hant") return saved;
  return navigator.languages.some((lang) => lang.toLowerCase().startsWith("zh")) ? "zh-Hant" : "en";
}

export function saveLocale(locale: Locale): void {
  localStorage.setItem(STORAGE_KEY, locale);
  document.documentElement.lang = locale;
}

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

export function translator(locale: Locale): Translate {
  const messages = MESSAGES[locale];
  return (key, values = {}) =>
    messages[key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

export function isMessageKey(key: string): key is MessageKey {
  return key in en;
}

export interface I18n {
  locale: Locale;
  t: Translate;
  setLocale(locale: Locale): void;
  formatDate(iso: string): string;
  formatBytes(bytes: number): string;
}

export const I18nContext = createContext<I18n | null>(null);

export function useI18n(): I18n {
  const value = useContext(I18nContext);
  if (!value) throw new Error("useI18n outside I18nContext");
  return value;
}

export function makeI18n(locale: Locale, setLocale: (locale: Locale) => void): I18n {
  const dates = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  const numbers = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  return {
    locale,
    t: translator(locale),
    setLocale,
    formatDate: (iso) => dates.format(new Date(iso)),
    formatBytes: (bytes) => {
      const units = ["B", "KB", "MB", "GB"];
      let value = bytes;
      let unit = 0;
      while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit += 1;
      }
      return `${numbers.format(value)} ${units[unit]}`;
    },
  };
}
