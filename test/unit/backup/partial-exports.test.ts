import { describe, expect, it } from "vitest";
import { type PartialExportState, partialExportMayLeave } from "../../../lib/backup/partial-exports.js";

const state = (over: Partial<PartialExportState>): PartialExportState => ({
  slots: 1,
  queued: 0,
  running: 0,
  pageChains: 1,
  poolsWaiting: 1,
  unitIdle: false,
  exportsHoldPages: false,
  ...over,
});

describe("partialExportMayLeave", () => {
  it("lets the partial batch go once no page chain is left: no more items can come", () => {
    expect(partialExportMayLeave(state({ pageChains: 0, queued: 3, running: 1 }))).toBe(true);
  });

  it("holds it on a one-slot unit while a folder's pages are still to come, even with the slot free for an instant", () => {
    expect(partialExportMayLeave(state({ slots: 1, pageChains: 1 }))).toBe(false);
    expect(partialExportMayLeave(state({ slots: 1, pageChains: 5, poolsWaiting: 2 }))).toBe(false);
  });

  it("holds it on a slot that would idle while the pools' last batches fit one round at the end", () => {
    expect(partialExportMayLeave(state({ slots: 2, pageChains: 1, running: 1, poolsWaiting: 2 }))).toBe(
      false,
    );
    expect(partialExportMayLeave(state({ slots: 4, pageChains: 3, running: 2, poolsWaiting: 1 }))).toBe(
      false,
    );
  });

  it("lets it go on a slot that would idle when more pools wait than the unit has slots", () => {
    expect(partialExportMayLeave(state({ slots: 2, pageChains: 1, running: 1, poolsWaiting: 3 }))).toBe(true);
    // Not while the page chains can fill every slot.
    expect(partialExportMayLeave(state({ slots: 2, pageChains: 2, running: 1, poolsWaiting: 3 }))).toBe(
      false,
    );
  });

  it("lets it go whenever a slot is free when folders wait on their exports before their next page (reads b)", () => {
    expect(
      partialExportMayLeave(state({ slots: 4, pageChains: 8, running: 3, exportsHoldPages: true })),
    ).toBe(true);
    // Not while no slot is free.
    expect(
      partialExportMayLeave(state({ slots: 4, pageChains: 8, running: 4, exportsHoldPages: true })),
    ).toBe(false);
    expect(
      partialExportMayLeave(
        state({ slots: 4, pageChains: 8, running: 2, queued: 1, exportsHoldPages: true }),
      ),
    ).toBe(false);
  });

  it("lets it go when the unit stayed idle over the event loop's turn: its folders wait on their exports", () => {
    expect(partialExportMayLeave(state({ slots: 1, pageChains: 2, unitIdle: true }))).toBe(true);
    expect(partialExportMayLeave(state({ slots: 4, pageChains: 6, unitIdle: true }))).toBe(true);
  });
});
