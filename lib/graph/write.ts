/**
 * The few writes a restore needs. Creating is not idempotent: these requests are retried only
 * after answers saying the service did not process them (429, 503).
 */
import type { GraphGateway } from "./client.js";

export interface CreatedFolder {
  id: string;
  displayName: string;
  parentFolderId: string;
}

/** Creates a folder under `parentFolderId`, or at the top of the mailbox when it is `null`. */
export function createFolder(
  gateway: GraphGateway,
  userId: string,
  parentFolderId: string | null,
  displayName: string,
  options: { isHidden?: boolean } = {},
): Promise<CreatedFolder> {
  const user = encodeURIComponent(userId);
  const path =
    parentFolderId === null
      ? `/users/${user}/mailFolders`
      : `/users/${user}/mailFolders/${encodeURIComponent(parentFolderId)}/childFolders`;
  return gateway.post<CreatedFolder>(path, { displayName, ...(options.isHidden ? { isHidden: true } : {}) });
}

/**
 * Creates a message in a folder from its JSON form. Pass `singleValueExtendedProperties` (e.g.
 * `Integer 0x0E07` message flags, `SystemTime 0x0E06` received time) to make it a non-draft
 * with its original dates: they only take effect at creation.
 */
export function createMessage<T extends { id: string } = { id: string; isDraft?: boolean }>(
  gateway: GraphGateway,
  userId: string,
  folderId: string,
  message: Record<string, unknown>,
): Promise<T> {
  return gateway.post<T>(
    `/users/${encodeURIComponent(userId)}/mailFolders/${encodeURIComponent(folderId)}/messages`,
    message,
  );
}

/** Updates properties of a message (read state, flag, categories, importance…). */
export function updateMessage<T = Record<string, unknown>>(
  gateway: GraphGateway,
  userId: string,
  messageId: string,
  patch: Record<string, unknown>,
): Promise<T> {
  return gateway.patch<T>(
    `/users/${encodeURIComponent(userId)}/messages/${encodeURIComponent(messageId)}`,
    patch,
  );
}

/** A file attachment small enough for one request (under 3 MB; larger ones need an upload session). */
export interface SmallFileAttachment {
  name: string;
  contentType: string;
  content: Buffer;
  isInline?: boolean;
  contentId?: string;
}

/** Adds a file attachment to an existing message in one POST (base64 content in the JSON). */
export function addFileAttachment(
  gateway: GraphGateway,
  userId: string,
  messageId: string,
  attachment: SmallFileAttachment,
): Promise<{ id: string }> {
  return gateway.post<{ id: string }>(
    `/users/${encodeURIComponent(userId)}/messages/${encodeURIComponent(messageId)}/attachments`,
    {
      "@odata.type": "#microsoft.graph.fileAttachment",
      name: attachment.name,
      contentType: attachment.contentType,
      isInline: attachment.isInline === true,
      ...(attachment.contentId ? { contentId: attachment.contentId } : {}),
      contentBytes: attachment.content.toString("base64"),
    },
  );
}

/** An attachment's listing without its content. */
export interface AttachmentSummary {
  id: string;
  name?: string;
  size?: number;
}

/** The attachments of a message, without their content (`$select`). */
export async function listAttachmentSummaries(
  gateway: GraphGateway,
  userId: string,
  messageId: string,
): Promise<AttachmentSummary[]> {
  const out: AttachmentSummary[] = [];
  const path = `/users/${encodeURIComponent(userId)}/messages/${encodeURIComponent(messageId)}/attachments?$select=id,name,size`;
  for await (const page of gateway.pages<AttachmentSummary>(path)) out.push(...page);
  return out;
}

/**
 * Deletes a message for good (`permanentDelete`: not kept in Deleted Items). Sending it twice is
 * harmless (the second answers 404, which callers treat as done).
 */
export async function permanentlyDeleteMessage(
  gateway: GraphGateway,
  userId: string,
  messageId: string,
): Promise<void> {
  await gateway.post<unknown>(
    `/users/${encodeURIComponent(userId)}/messages/${encodeURIComponent(messageId)}/permanentDelete`,
    {},
    { idempotent: true },
  );
}
