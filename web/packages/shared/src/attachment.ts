import type { AttachmentInfo } from './types';

/**
 * The file of a `kind: "attachment"` message body, or null when the body is not one of ours. Only our own
 * server's download path is accepted: the body comes from the server, but a URL is never trusted blindly.
 */
export function parseAttachment(body: string): AttachmentInfo | null {
  try {
    const a = JSON.parse(body) as AttachmentInfo;
    return a && typeof a.url === 'string' && a.url.startsWith('/api/v1/attachments/') && typeof a.name === 'string' ? a : null;
  } catch {
    return null;
  }
}

/** 512 B, 40 KB, 3.2 MB. */
export function fileSize(n: number): string {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}
