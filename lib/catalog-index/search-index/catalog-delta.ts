/**
 * What later jobs did to a mailbox, relative to its rows in a search index
 * (docs/archive-format.md "Search index", "Built per changed line"): the catalog parts of the
 * jobs after the index's are applied to what they name alone, without the mailbox's earlier
 * state. The result is the items the jobs wrote (their rows in a new segment), and a test that
 * says, for an older row of the mailbox (its item id and folder), whether it still counts.
 */
import type { CatalogEntry } from "../../archive/catalog.js";
import { MailboxState, type ViewMessage } from "../../archive/replay.js";

export class CatalogDelta {
  /** The items the jobs wrote and that are still there after them (as a replay keeps them). */
  private readonly state = new MailboxState();
  /** Every item the jobs wrote (an older row of it never counts: a newer one, or none, does). */
  private readonly written = new Set<string>();
  /**
   * Items the jobs removed from a folder before writing them (if ever): whether an older row goes
   * depends on its folder, which the index knows (a move removes the item from its old folder only).
   */
  private readonly removedFrom = new Map<string, Set<string>>();
  /** Folders the jobs reset (enumerated afresh): no older row in them counts. */
  readonly resets = new Set<string>();

  /** Applies one catalog line of a later job, as the replay does (lib/archive/replay.ts). */
  apply(entry: CatalogEntry, jobId: string, applyResets: boolean): void {
    switch (entry.kind) {
      case "upsert":
        this.written.add(entry.messageId);
        this.state.apply(entry, jobId, applyResets);
        return;
      case "removed":
        if (this.written.has(entry.messageId)) {
          this.state.apply(entry, jobId, applyResets);
          return;
        }
        this.removedFrom.set(
          entry.messageId,
          new Set([...(this.removedFrom.get(entry.messageId) ?? []), entry.folderId]),
        );
        return;
      case "folder-reset":
        if (!applyResets) return;
        this.state.apply(entry, jobId, applyResets);
        this.resets.add(entry.folderId);
        return;
    }
  }

  /** The items whose rows the new segment holds. */
  messages(): ViewMessage[] {
    return [...this.state.messages.values()];
  }

  /** The item ids to look up in the index: written, or removed from some folder. */
  touchedIds(): string[] {
    return [...new Set([...this.written, ...this.removedFrom.keys()])];
  }

  /** Whether an older row of the mailbox (item id, folder id) no longer counts after the jobs. */
  masks(itemId: string, folderId: string): boolean {
    return (
      this.written.has(itemId) ||
      this.resets.has(folderId) ||
      (this.removedFrom.get(itemId)?.has(folderId) ?? false)
    );
  }
}
