/**
 * Getting a file to docpipe: small files through the API (`POST /v1/documents`), large ones
 * straight to S3 with the presigned POST the API hands out (`POST /v1/uploads`), because
 * API Gateway caps request bodies at 10 MB and Lambda at 6 MB (docs/api.md, "Large files").
 */
import { type Api, ApiError, type Document, type PresignedUpload } from "./api";

/** The upload service's default MAX_API_UPLOAD_BYTES; a 413 above a lower limit falls back too. */
export const DIRECT_MAX_BYTES = 4 * 1024 * 1024;

const TYPES: Record<string, string> = {
  pdf: "application/pdf",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  docm: "application/vnd.ms-word.document.macroEnabled.12",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  xlsm: "application/vnd.ms-excel.sheet.macroEnabled.12",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  html: "text/html",
  htm: "text/html",
  csv: "text/csv",
  tsv: "text/csv",
  txt: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
};

/** The type to declare for a presigned upload (the bytes are checked again when processed). */
export function contentTypeOf(file: { name: string; type: string }): string {
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return TYPES[extension] ?? (file.type || "application/octet-stream");
}

export type Progress = (sent: number, total: number) => void;

function postForm(upload: PresignedUpload, file: File, onProgress: Progress): Promise<void> {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append("file", file);
  return new Promise((resolve, reject) => {
    // XMLHttpRequest, not fetch: only it reports upload progress.
    const request = new XMLHttpRequest();
    request.open("POST", upload.url);
    request.upload.onprogress = (event) => onProgress(event.loaded, event.total || file.size);
    request.onload = () =>
      request.status >= 200 && request.status < 300
        ? resolve()
        : reject(new ApiError(request.status, `the document store refused the file (HTTP ${request.status})`));
    request.onerror = () => reject(new ApiError(0, "the document store could not be reached"));
    request.send(form);
  });
}

export async function uploadFile(api: Api, file: File, onProgress: Progress): Promise<Document> {
  if (file.size <= DIRECT_MAX_BYTES) {
    try {
      const document = await api.uploadDirect(file);
      onProgress(file.size, file.size);
      return document;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 413)) throw error;
    }
  }
  const { document, upload } = await api.createUpload({
    filename: file.name,
    content_type: contentTypeOf(file),
    size_bytes: file.size,
  });
  await postForm(upload, file, onProgress);
  return document;
}
