/** `POST /users/{id}/messages/{id}/attachments/createUploadSession`: opens an attachment upload session. */
import { graphError, jsonResponse, MailErrors } from "../graph-types.js";
import { expiration, MAX_ATTACHMENT_BYTES, UPLOAD_SESSION_MIN_BYTES } from "../upload-sessions.js";
import type { RouteHandler } from "./context.js";

export const createUploadSession: RouteHandler = ({ ctx, req, params, user }) => {
  const message = ctx.store.getMessage(user.id, params[0] ?? "");
  if (!message) return MailErrors.itemNotFound(req);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const item = (body.AttachmentItem ?? body.attachmentItem) as Record<string, unknown> | undefined;
  if (typeof item !== "object" || item === null) {
    return MailErrors.badRequest(
      req,
      `Expected a JSON body {"AttachmentItem":{…}}, found ${JSON.stringify(req.body)?.slice(0, 100)}.`,
    );
  }
  if (String(item.attachmentType ?? "").toLowerCase() !== "file") {
    return MailErrors.badRequest(
      req,
      `Expected AttachmentItem.attachmentType "file", found ${JSON.stringify(item.attachmentType)}.`,
    );
  }
  if (typeof item.name !== "string" || item.name === "") {
    return MailErrors.badRequest(req, `Expected AttachmentItem.name, found ${JSON.stringify(item.name)}.`);
  }
  const size = item.size;
  if (typeof size !== "number" || !Number.isInteger(size) || size < 0) {
    return MailErrors.badRequest(
      req,
      `Expected AttachmentItem.size as a whole number of bytes, found ${JSON.stringify(size)}.`,
    );
  }
  if (size < UPLOAD_SESSION_MIN_BYTES) {
    return graphError(
      req,
      400,
      "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
      `Expected an attachment of at least ${UPLOAD_SESSION_MIN_BYTES} bytes for an upload session, found ${size}; POST smaller attachments.`,
    );
  }
  if (size > MAX_ATTACHMENT_BYTES) {
    return graphError(
      req,
      400,
      "ErrorAttachmentSizeShouldNotBeGreaterThanMaximumSize",
      `Expected an attachment of at most ${MAX_ATTACHMENT_BYTES} bytes, found ${size}.`,
    );
  }
  const origin = ctx.origins.preauthenticated("upload", ctx.origin);
  const session = ctx.uploads.create(origin, req.clientId, user.id, message.id, {
    name: item.name,
    size,
    contentType: typeof item.contentType === "string" ? item.contentType : "application/octet-stream",
    isInline: item.isInline === true,
    ...(typeof item.contentId === "string" && item.contentId !== "" ? { contentId: item.contentId } : {}),
  });
  return jsonResponse(201, {
    "@odata.context": `${ctx.baseUrl}/$metadata#microsoft.graph.uploadSession`,
    uploadUrl: ctx.uploads.uploadUrl(session),
    expirationDateTime: expiration(session),
    nextExpectedRanges: ["0-"],
  });
};
