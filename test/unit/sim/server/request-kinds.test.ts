import { describe, expect, it } from "vitest";
import {
  kindOfFolderClass,
  kindOfItemClass,
  OVERHEAD,
  RequestsByKind,
  sharesOf,
} from "../../../../lib/dev/sim/server/request-kinds.js";

describe("requests by item kind", () => {
  it("splits an export request of 20 items across their kinds by share", () => {
    const kinds = [
      ...Array<"event">(5).fill("event"),
      ...Array<"mail">(12).fill("mail"),
      ...Array<"contact">(3).fill("contact"),
    ];
    expect(sharesOf(kinds)).toEqual({ event: 0.25, mail: 0.6, contact: 0.15 });
  });

  it("gives the share of an id that names no item to overhead", () => {
    expect(sharesOf(["task", undefined, "task", "task"])).toEqual({ task: 0.75, [OVERHEAD]: 0.25 });
  });

  it("counts a request for no item kind as overhead, and the rows add up to the served total", () => {
    const byKind = new RequestsByKind();
    byKind.count(["event", "event", "mail", "mail"]); // export of 4: 0.5 + 0.5
    byKind.count(["event"]); // a calendar folder's delta page
    byKind.count(["mail"]); // a $value
    byKind.count([]); // a folder listing
    byKind.count([undefined]); // a delta page of a folder that is gone
    expect(byKind.snapshot(7)).toEqual({ event: 1.5, mail: 1.5, [OVERHEAD]: 4 });
    byKind.reset();
    expect(byKind.snapshot(3)).toEqual({ [OVERHEAD]: 3 });
  });

  it("names the kind of item classes and folder classes", () => {
    expect(kindOfItemClass("IPM.Appointment")).toBe("event");
    expect(kindOfItemClass("IPM.Schedule.Meeting.Request")).toBe("mail");
    expect(kindOfItemClass("IPM.Note.SMIME.MultipartSigned")).toBe("mail");
    expect(kindOfItemClass("IPM.Contact")).toBe("contact");
    expect(kindOfItemClass("IPM.DistList")).toBe("distList");
    expect(kindOfItemClass("IPM.Task")).toBe("task");
    expect(kindOfItemClass("IPM.StickyNote")).toBe("note");
    expect(kindOfItemClass("IPM.Notebook")).toBe("other");
    expect(kindOfFolderClass(undefined)).toBe("mail");
    expect(kindOfFolderClass("IPF.Appointment.Birthday")).toBe("event");
    expect(kindOfFolderClass("IPF.Contact")).toBe("contact");
    expect(kindOfFolderClass("IPF.Task")).toBe("task");
    expect(kindOfFolderClass("IPF.StickyNote")).toBe("note");
    expect(kindOfFolderClass("IPF.Configuration")).toBe("other");
  });
});
