/** Opening a cited source: the original file at its page, in a new tab. */
import { type Api, ApiError, type Citation } from "./api";

/**
 * A browser cannot put a bearer token on a plain link, and fetch cannot read a redirect's
 * Location, so the link is asked for as JSON (`Accept: application/json`) and the
 * presigned URL itself is opened (docs/api.md, "Links to sources"). The tab is opened
 * during the click, before the request, so it is not taken for an unwanted pop-up.
 */
export async function openSource(api: Api, source: Citation): Promise<void> {
  const tab = window.open("", "_blank");
  if (tab) tab.opener = null;
  try {
    const { url } = await api.contentLink(source.document_id);
    const target = source.page_start ? `${url}#page=${source.page_start}` : url;
    if (tab) tab.location.href = target;
    else window.location.assign(target);
  } catch (error) {
    tab?.close();
    throw error instanceof ApiError ? error : new ApiError(0, String(error));
  }
}
