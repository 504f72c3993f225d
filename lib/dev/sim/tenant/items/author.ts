/**
 * Writes the non-mail items of a mailbox from a seeded generator: meetings and appointments
 * (single and recurring, with exceptions, attendees and attachments), contacts (some with
 * photos), distribution lists, tasks and sticky notes. Each item draws from a generator of its
 * own, so that it can be written again, identical, whenever its content is read.
 */
import type { EmailAddress } from "../../model.js";
import { FIRST_NAMES, LAST_NAMES } from "../content.js";
import { deferredFileLikeBytes, type FileLikeType } from "../mime.js";
import type { Random } from "../random.js";
import { canonicalTime } from "../time.js";
import type {
  AttendeeType,
  ContactSpec,
  DistListSpec,
  EventSpec,
  NoteSpec,
  ResponseType,
  TaskSpec,
} from "./kinds.js";

/** What a mailbox's items are written from: its owner and the people around. */
export interface ItemAuthoring {
  owner: EmailAddress;
  colleagues: EmailAddress[];
  externalDomains: string[];
  timeZone: string;
  /** Items are dated in [earliest, latest) (ms since the epoch). */
  earliest: number;
  latest: number;
}

const EVENT_SUBJECTS = [
  "Weekly sync",
  "1:1",
  "Quarterly business review",
  "Sprint planning",
  "Customer call",
  "Budget review",
  "Lunch",
  "Dentist",
  "Design review",
  "Team offsite",
  "Réunion d'équipe",
  "Kundentermin München",
  "週次ミーティング",
  "🎂 Birthday party",
  "Interview: senior engineer",
];
const LOCATIONS = [
  "Conference Room Adams",
  "Microsoft Teams Meeting",
  "Building 4 / 2.17",
  "Café Central",
  "Online",
  "",
  "Salle Étoile",
];
const COMPANIES = [
  "Contoso",
  "Fabrikam",
  "Northwind Traders",
  "Tailspin Toys",
  "Adatum",
  "Litware",
  "Müller GmbH",
];
const TITLES = ["Account Manager", "Engineer", "CFO", "Buyer", "Consultant", "Office Manager", "Directeur"];
const DEPARTMENTS = ["Sales", "Engineering", "Finance", "Purchasing", "Legal"];
const LIST_NAMES = ["Project Team", "Book Club", "Key Suppliers", "Board", "Lunch crew 🍕"];
const TASK_SUBJECTS = [
  "Send the signed contract",
  "Prepare slides for the board",
  "Renew parking permit",
  "Follow up with Fabrikam",
  "Submit expense report",
  "Book flights to Tokyo",
  "Steuererklärung abgeben",
  "Review pull requests",
];
const NOTE_TEXTS = [
  "Wi-Fi guest password: Contoso-Guest-2025",
  "Call back Kim re: invoice 2024-117\nbefore Friday",
  "Ideas for the offsite:\n- boat trip\n- cooking class",
  "買い物リスト: 牛乳, パン",
  "Parking: level -2, spot 117",
  "Remember: 🔑 spare key with reception",
];
const BODIES = [
  "Agenda: status, risks, next steps.",
  "Please review the attached document before we meet.",
  "Dial-in details are in the Teams link.",
  "Bringing the prototype along.",
  "",
  "Ordre du jour : budget et planning.",
];
const ATTACHMENTS: Array<{ name: string; type: FileLikeType; contentType: string }> = [
  { name: "Agenda.pdf", type: "pdf", contentType: "application/pdf" },
  {
    name: "Slides.docx",
    type: "docx",
    contentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  },
  {
    name: "Numbers.xlsx",
    type: "xlsx",
    contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  },
  { name: "Floor plan.png", type: "png", contentType: "image/png" },
];
const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function person(rng: Random, a: ItemAuthoring): EmailAddress {
  if (a.colleagues.length > 0 && rng.chance(0.6)) return rng.pick(a.colleagues);
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  const local = `${first}.${last}`
    .normalize("NFD")
    .replace(/[^A-Za-z.]/g, "")
    .toLowerCase();
  return { name: `${first} ${last}`, address: `${local}@${rng.pick(a.externalDomains)}` };
}

/** A day in [earliest, latest) at midnight UTC. */
function day(rng: Random, a: ItemAuthoring): number {
  return a.earliest + Math.floor(rng.next() * ((a.latest - a.earliest) / DAY)) * DAY;
}

function phone(rng: Random): string {
  return `+${rng.pick(["1 425", "49 89", "33 1", "81 3", "44 20"])} ${rng.int(100, 999)} ${rng.int(1000, 9999)}`;
}

/** Dates of an item's record: created some days before `anchor`, last modified then or a little after. */
export function recordDates(
  rng: Random,
  anchor: number,
): { createdDateTime: string; lastModifiedDateTime: string } {
  const created = anchor - rng.int(1, 30) * DAY + rng.int(0, 86_399) * 1000;
  const modified = rng.chance(0.3) ? created + rng.int(60, 86_400) * 1000 : created;
  return { createdDateTime: canonicalTime(created), lastModifiedDateTime: canonicalTime(modified) };
}

export function categoriesOf(rng: Random): string[] {
  return rng.chance(0.15) ? [rng.pick(["Red category", "Blue category", "Project X", "Personal"])] : [];
}

export function authorEvent(rng: Random, a: ItemAuthoring): EventSpec {
  const isAllDay = rng.chance(0.1);
  const startMs = isAllDay ? day(rng, a) : day(rng, a) + rng.int(7, 17) * HOUR + rng.pick([0, 30]) * 60_000;
  const endMs = isAllDay ? startMs + rng.int(1, 3) * DAY : startMs + rng.pick([30, 60, 60, 90, 120]) * 60_000;
  const isOrganizer = rng.chance(0.5);
  const organizer = isOrganizer ? a.owner : person(rng, a);
  const attendees = Array.from({ length: rng.chance(0.3) ? 0 : rng.int(1, 5) }, () => ({
    ...person(rng, a),
    type: (rng.chance(0.2) ? "optional" : "required") as AttendeeType,
    response: rng.pick<ResponseType>([
      "accepted",
      "accepted",
      "tentativelyAccepted",
      "declined",
      "notResponded",
      "none",
    ]),
  })).filter((p) => p.address !== organizer.address);
  // An invitation lists its invitee, the mailbox's owner, among the attendees.
  if (!isOrganizer && attendees.length > 0)
    attendees.push({ ...a.owner, type: "required", response: "accepted" });
  const start = canonicalTime(startMs);
  const spec: EventSpec = {
    subject: rng.pick(EVENT_SUBJECTS),
    body: rng.pick(BODIES),
    location: rng.pick(LOCATIONS),
    start,
    end: canonicalTime(endMs),
    isAllDay,
    timeZone: a.timeZone,
    busyStatus: isAllDay ? rng.pick([0, 3]) : rng.pick([1, 2, 2, 2]),
    sensitivity: rng.chance(0.1) ? 2 : 0,
    organizer,
    isOrganizer,
    attendees,
    ...(rng.chance(0.8) ? { reminderMinutes: rng.pick([5, 15, 15, 30, 1440]) } : {}),
    attachments: rng.chance(0.1)
      ? Array.from({ length: rng.int(1, 2) }, () => {
          const t = rng.pick(ATTACHMENTS);
          return {
            name: t.name,
            contentType: t.contentType,
            content: deferredFileLikeBytes(t.type, rng.int(2_000, 30_000), rng),
          };
        })
      : [],
  };
  if (!isAllDay && rng.chance(0.25)) {
    const weekly = rng.chance(0.7);
    const interval = weekly ? rng.int(1, 2) : 1;
    const count = rng.int(4, 12);
    const period = (weekly ? 7 * interval : 1) * DAY;
    spec.recurrence = {
      pattern: weekly
        ? { type: "weekly", interval, daysOfWeek: [WEEKDAYS[new Date(startMs).getUTCDay()] as string] }
        : { type: "daily", interval: 1 },
      range: rng.chance(0.5)
        ? { type: "numbered", startDate: start.slice(0, 10), numberOfOccurrences: count }
        : {
            type: "endDate",
            startDate: start.slice(0, 10),
            endDate: canonicalTime(startMs + (count - 1) * period).slice(0, 10),
          },
    };
    const occurrence = (n: number) => startMs + n * period;
    const changed = rng.int(0, 2);
    spec.exceptions = Array.from({ length: changed }, (_, k) => {
      const original = occurrence(1 + k * 2);
      const moved = original + rng.pick([-1, 1, 2]) * HOUR;
      return {
        originalStart: canonicalTime(original),
        subject: rng.chance(0.5) ? `${spec.subject} (moved)` : spec.subject,
        start: canonicalTime(moved),
        end: canonicalTime(moved + (endMs - startMs)),
        location: rng.pick(LOCATIONS),
      };
    });
    spec.deletedOccurrences = rng.chance(0.4) ? [canonicalTime(occurrence(2 + changed * 2))] : [];
  }
  return spec;
}

export function authorContact(rng: Random, a: ItemAuthoring): ContactSpec {
  const known = a.colleagues.length > 0 && rng.chance(0.4) ? rng.pick(a.colleagues) : undefined;
  const base = known ?? person(rng, a);
  const [givenName = base.name, ...rest] = base.name.split(" ");
  const surname = rest.join(" ") || rng.pick(LAST_NAMES);
  return {
    givenName,
    surname,
    displayName: `${givenName} ${surname}`,
    emailAddresses: [
      base,
      ...(rng.chance(0.2) ? [{ name: base.name, address: `${givenName.toLowerCase()}@example.org` }] : []),
    ],
    ...(known
      ? { companyName: "Contoso", department: rng.pick(DEPARTMENTS) }
      : { companyName: rng.pick(COMPANIES) }),
    ...(rng.chance(0.7) ? { jobTitle: rng.pick(TITLES) } : {}),
    ...(rng.chance(0.8) ? { businessPhone: phone(rng) } : {}),
    ...(rng.chance(0.5) ? { mobilePhone: phone(rng) } : {}),
    ...(rng.chance(0.1) ? { homePhone: phone(rng) } : {}),
    ...(rng.chance(0.3)
      ? { birthday: canonicalTime(Date.UTC(rng.int(1960, 2000), rng.int(0, 11), rng.int(1, 28))) }
      : {}),
    ...(rng.chance(0.2)
      ? { notes: rng.pick(["Met at the trade fair.", "Prefers phone calls.", "Assistant: Pat"]) }
      : {}),
    ...(rng.chance(0.3) ? { photo: deferredFileLikeBytes("jpg", rng.int(3_000, 20_000), rng) } : {}),
  };
}

export function authorDistList(rng: Random, a: ItemAuthoring): DistListSpec {
  const members = Array.from({ length: rng.int(3, 8) }, () => person(rng, a));
  const unique = [...new Map(members.map((m) => [m.address, m])).values()];
  return {
    name: rng.pick(LIST_NAMES),
    members: unique,
    ...(rng.chance(0.3) ? { notes: "Shared with the team." } : {}),
  };
}

export function authorTask(rng: Random, a: ItemAuthoring): TaskSpec {
  const status = rng.pick<TaskSpec["status"]>([
    "notStarted",
    "notStarted",
    "inProgress",
    "completed",
    "waitingOnOthers",
    "deferred",
  ]);
  const startMs = day(rng, a);
  const due = rng.chance(0.8) ? canonicalTime(startMs + rng.int(1, 30) * DAY) : undefined;
  return {
    subject: rng.pick(TASK_SUBJECTS),
    body: rng.pick(BODIES),
    status,
    percentComplete: status === "completed" ? 1 : status === "inProgress" ? rng.pick([0.25, 0.5, 0.75]) : 0,
    ...(rng.chance(0.5) ? { start: canonicalTime(startMs) } : {}),
    ...(due ? { due } : {}),
    ...(status === "completed" ? { completed: canonicalTime(startMs + rng.int(0, 20) * DAY) } : {}),
    importance: rng.pick([0, 1, 1, 1, 2]),
  };
}

export function authorNote(rng: Random): NoteSpec {
  return { body: rng.pick(NOTE_TEXTS), color: rng.int(0, 4) };
}

/** Where an item's dates come from: an event's start, a task's start or due date, else a day of the range. */
export function anchorOf(rng: Random, a: ItemAuthoring): number {
  return day(rng, a);
}
