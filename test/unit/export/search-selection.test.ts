/** Grouping search hits for export: one group per mailbox and folder, sorted, oldest first. */
import { describe, expect, it } from "vitest";
import type { ViewMessage } from "../../../lib/archive/index.js";
import type { SearchHit } from "../../../lib/catalog-index/search.js";
import { groupHits } from "../../../lib/export/search-selection.js";

function hit(address: string, folderPath: string, messageId: string, received: string): SearchHit {
  const message: ViewMessage = {
    messageId,
    folderId: folderPath,
    sha256: messageId.repeat(64).slice(0, 64),
    size: 1,
    meta: { receivedDateTime: received },
    jobId: "job",
  };
  return {
    mailbox: { mailboxId: address, address, lastJobId: "job", lastStatus: "complete" },
    folderPath,
    message,
  };
}

describe("groupHits", () => {
  it("groups by <address>/<folder path>, groups in path order, messages oldest first", () => {
    const hits = [
      hit("b@x", "Inbox", "m1", "2026-03-01T00:00:00Z"),
      hit("a@x", "Inbox/Sub", "m2", "2026-02-01T00:00:00Z"),
      hit("b@x", "Inbox", "m3", "2026-01-01T00:00:00Z"),
      hit("a@x", "Inbox", "m4", "2026-01-15T00:00:00Z"),
      hit("b@x", "Inbox", "m0", "2026-01-01T00:00:00Z"),
    ];
    const groups = groupHits(hits);
    expect(groups.map((g) => [g.path, g.messages.map((m) => m.messageId)])).toEqual([
      ["a@x/Inbox", ["m4"]],
      ["a@x/Inbox/Sub", ["m2"]],
      ["b@x/Inbox", ["m0", "m3", "m1"]],
    ]);
    expect(groups.reduce((n, g) => n + g.messages.length, 0)).toBe(hits.length);
  });

  it("gives no group for no hits", () => {
    expect(groupHits([])).toEqual([]);
  });
});
