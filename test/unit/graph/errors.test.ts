import { describe, expect, it } from "vitest";
import { FatalError, RetryableError, SkipError } from "../../../lib/errors.js";
import {
  AccessDeniedError,
  FolderNotFoundError,
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
  it("maps missing mailboxes, items, folders and denied access to skip errors by code", () => {
    expect(mapGraphError(at(404, "MailboxNotEnabledForRESTAPI"))).toBeInstanceOf(MailboxNotFoundError);
    expect(mapGraphError(at(404, "ErrorItemNotFound"))).toBeInstanceOf(ItemNotFoundError);
    expect(mapGraphError(at(404, "ResourceNotFound"))).toBeInstanceOf(ItemNotFoundError);
    expect(mapGraphError(at(404, "ErrorSyncFolderNotFound"))).toBeInstanceOf(FolderNotFoundError);
    const denied = mapGraphError(at(403, "ErrorAccessDenied"));
    expect(denied).toBeInstanceOf(AccessDeniedError);
    expect(denied).toBeInstanceOf(SkipError);
    expect(denied.message).toContain("GET /v1.0/users/u1/messages/m1 answered 403 ErrorAccessDenied");
  });

  it("maps 410 SyncStateNotFound to SyncStateLostError carrying the Location", () => {
    const lost = mapGraphError(at(410, "SyncStateNotFound"), "https://graph.example/v1.0/users/u1/delta");
    expect(lost).toBeInstanceOf(SyncStateLostError);
    expect((lost as SyncStateLostError).location).toBe("https://graph.example/v1.0/users/u1/delta");
    expect(lost.name).toBe("SyncStateLostError");
  });

  it("keeps throttling and 5xx retryable and everything else fatal, with status and code", () => {
    expect(mapGraphError(at(503, undefined))).toBeInstanceOf(RetryableError);
    const other = mapGraphError(at(400, "ErrorInvalidRequest"));
    expect(other).toBeInstanceOf(GraphRequestError);
    expect(other).toBeInstanceOf(FatalError);
    expect(other).toMatchObject({ status: 400, code: "ErrorInvalidRequest" });
    // A 404 with an unknown code is not silently skipped.
    expect(mapGraphError(at(404, "SomethingElse"))).toBeInstanceOf(FatalError);
    expect(mapGraphError(at(403, "Authorization_RequestDenied"))).toBeInstanceOf(FatalError);
  });
});
