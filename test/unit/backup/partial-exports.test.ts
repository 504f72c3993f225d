import { describe, expect, it } from "vitest";
import { type PartialExportState, partialExportMayLeave } from "../../../lib/backup/partial-exports.js";

const state = (over: Partial<PartialExportState>): PartialExportState => ({
  slots: 1,
  queued: 0,
  running: 0,
  pageChains: 1,
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
    expect(partialExportMayLeave(state({ slots: 1, pageChains: 5 }))).toBe(false);
  });

  it("lets it go when fewer page chains are left than slots and a slot is free: that slot would idle", () => {
    expect(partialExportMayLeave(state({ slots: 2, pageChains: 1, running: 1 }))).toBe(true);
    expect(partialExportMayLeave(state({ slots: 4, pageChains: 3, running: 2 }))).toBe(true);
  });

  it("holds it while the page chains can fill every slot", () => {
    expect(partialExportMayLeave(state({ slots: 2, pageChains: 2, running: 1 }))).toBe(false);
    expect(partialExportMayLeave(state({ slots: 4, pageChains: 4 }))).toBe(false);
  });

  it("holds it when no slot is free, whatever the chains", () => {
    expect(partialExportMayLeave(state({ slots: 2, pageChains: 1, running: 2 }))).toBe(false);
    expect(partialExportMayLeave(state({ slots: 4, pageChains: 1, running: 1, queued: 1 }))).toBe(false);
  });

  it("lets it go on any free slot when folders wait on their exports before their next page (reads b)", () => {
    expect(
      partialExportMayLeave(state({ slots: 4, pageChains: 8, running: 3, exportsHoldPages: true })),
    ).toBe(true);
    // Not while no slot is free.
    expect(
      partialExportMayLeave(state({ slots: 4, pageChains: 8, running: 4, exportsHoldPages: true })),
    ).toBe(false);
  });

  it("lets it go when the unit stayed idle over the event loop's turn: its folders wait on their exports", () => {
    expect(partialExportMayLeave(state({ slots: 1, pageChains: 2, unitIdle: true }))).toBe(true);
    expect(partialExportMayLeave(state({ slots: 4, pageChains: 6, unitIdle: true }))).toBe(true);
  });
});
