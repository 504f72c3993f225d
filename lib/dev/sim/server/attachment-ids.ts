/** Attachment ids: stable per message and position, opaque like Exchange's. */
export function attachmentId(messageId: string, index: number): string {
  return Buffer.from(`${messageId}\u0000${index}`).toString("base64url");
}
