import { describe, expect, it } from "vitest";
import { FatalError, MailboxUnavailableError, RetryableError, SkipError } from "../../../lib/errors.js";
import {
  AccessDeniedError,
  errorDetailOf,
  FolderNotFoundError,
  GraphAuthorizationError,
  GraphRequestError,
  ItemNotFoundError,
  MailboxNotFoundError,
  mapGraphError,
  SyncStateLostError,
} from "../../../lib/graph/errors.js";

const at = (status: number, code: string | undefined) => ({
  method: "GET",
  path: "/v1.0/users/u1/messages/m1",
  status,
  code,
});

describe("mapGraphError", () => {
  it("quotes the body's message (Graph's error.message or an Outlook host's Message), cut at 300 characters", () => {
    expect(errorDetailOf({ error: { code: "X", message: "Folder is gone." } })).toBe("Folder is gone.");
    expect(errorDetailOf({ Message: "Invalid import session." })).toBe("Invalid import session.");
    expect(errorDetailOf({ error: { code: "X" } })).toBeUndefined();
    expect(errorDetailOf(undefined)).toBeUndefined();
    const refused = mapGraphError({ ...at(409, undefined), detail: "Invalid import session." });
    expect(refused).toBeInstanceOf(GraphRequestError);
    expect(refused.message).toMatch(/answered 409 \(no code\): Invalid import session\.$/);
    expect((refused as GraphRequestError).detail).toBe("Invalid import session.");
    const long = mapGraphError({ ...at(400, "Bad"), detail: "x".repeat(1000) });
    expect(long.message).toMatch(/answered 400 Bad: x{300}$/);
  });

  it("maps missing mailboxes, items, folders and denied access to skip errors by code", () => {
    expect(mapGraphError(at(404, "MailboxNotEnabledForRESTAPI"))).toBeInstanceOf(MailboxNotFoundError);
    expect(mapGraphError(at(404, "ErrorItemNotFound"))).toBeInstanceOf(ItemNotFoundError);
    expect(mapGraphError(at(404, "ResourceNotFound"))).toBeInstanceOf(ItemNotFoundError);
    expect(mapGraphError(at(404, "ErrorSyncFolderNotFound"))).toBeInstanceOf(FolderNotFoundError);
    const denied = mapGraphError(at(403, "ErrorAccessDenied"));
    expect(denied).toBeInstanceOf(AccessDeniedError);
    expect(denied).toBeInstanceOf(SkipError);
    expect(denied.message).toContain("GET /v1.0/users/u1/messages/m1 answered 403 ErrorAccessDenied");
    // The mailbox-level ones say so by class: the unit backup skips the whole mailbox.
    expect(denied).toBeInstanceOf(MailboxUnavailableError);
    expect(mapGraphError(at(404, "MailboxNotEnabledForRESTAPI"))).toBeInstanceOf(MailboxUnavailableError);
    expect(mapGraphError(at(404, "ErrorItemNotFound"))).not.toBeInstanceOf(MailboxUnavailableError);
  });

  it("maps 410 SyncStateNotFound to SyncStateLostError carrying the Location", () => {
    const lost = mapGraphError(at(410, "SyncStateNotFound"), "https://graph.example/v1.0/users/u1/delta");
    expect(lost).toBeInstanceOf(SyncStateLostError);
    expect((lost as SyncStateLostError).location).toBe("https://graph.example/v1.0/users/u1/delta");
    expect(lost.name).toBe("SyncStateLostError");
  });

  it("keeps throttling and 5xx retryable, records other refusals, and stops on refused credentials", () => {
    expect(mapGraphError(at(503, undefined))).toBeInstanceOf(RetryableError);
    const other = mapGraphError(at(400, "ErrorInvalidRequest"));
    expect(other).toBeInstanceOf(GraphRequestError);
    expect(other).toBeInstanceOf(SkipError);
    expect(other).toMatchObject({ status: 400, code: "ErrorInvalidRequest", kind: "skip" });
    // A 404 with an unknown code is recorded (in the job report), not skipped silently.
    expect(mapGraphError(at(404, "SomethingElse"))).toMatchObject({ kind: "skip", status: 404 });
    // The app's credentials or permissions: every request would fail alike, so the job stops.
    const forbidden = mapGraphError(at(403, "Authorization_RequestDenied"));
    expect(forbidden).toBeInstanceOf(GraphAuthorizationError);
    expect(forbidden).toBeInstanceOf(FatalError);
    expect(forbidden.message).toMatch(/application permissions and admin consent/);
    expect(mapGraphError(at(401, "InvalidAuthenticationToken"))).toBeInstanceOf(GraphAuthorizationError);
  });
});
