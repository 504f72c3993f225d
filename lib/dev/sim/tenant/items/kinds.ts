/**
 * The non-mail item kinds as the generator describes them (events, contacts, distribution lists,
 * tasks, notes) and their content as MAPI-like properties, recipients and attachments.
 */
import type { ItemAttachment, ItemContent, LazyBytes, Property } from "../../item-model.js";
import type { EmailAddress } from "../../model.js";
import { contentOf, numberOf, props, propValue, stringOf } from "./content.js";
import { P } from "./properties.js";

export const ITEM_CLASSES = {
  event: "IPM.Appointment",
  contact: "IPM.Contact",
  distList: "IPM.DistList",
  task: "IPM.Task",
  note: "IPM.StickyNote",
} as const;

export const FOLDER_CLASSES = {
  calendar: "IPF.Appointment",
  contacts: "IPF.Contact",
  tasks: "IPF.Task",
  notes: "IPF.StickyNote",
} as const;

/** The class of a recurring event's exception (an embedded item, as Outlook stores them). */
const EXCEPTION_CLASS = "IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}";

export type AttendeeType = "required" | "optional" | "resource";
export type ResponseType =
  | "none"
  | "organizer"
  | "tentativelyAccepted"
  | "accepted"
  | "declined"
  | "notResponded";

export interface FileAttachmentSpec {
  name: string;
  contentType: string;
  content: LazyBytes;
}

export interface RecurrenceSpec {
  pattern: {
    type: "daily" | "weekly" | "absoluteMonthly";
    interval: number;
    daysOfWeek?: string[];
    dayOfMonth?: number;
  };
  range: { type: "endDate" | "numbered"; startDate: string; endDate?: string; numberOfOccurrences?: number };
}

export interface EventSpec {
  subject: string;
  body: string;
  location: string;
  /** ISO-8601 UTC. */
  start: string;
  end: string;
  isAllDay: boolean;
  timeZone: string;
  /** 0 free, 1 tentative, 2 busy, 3 out of office. */
  busyStatus: number;
  /** 0 normal, 2 private. */
  sensitivity: number;
  organizer: EmailAddress;
  /** True when the mailbox owner organizes it; else it is a meeting the owner was invited to. */
  isOrganizer: boolean;
  attendees: Array<EmailAddress & { type: AttendeeType; response: ResponseType }>;
  reminderMinutes?: number;
  recurrence?: RecurrenceSpec;
  /** Original start times of occurrences deleted from the series. */
  deletedOccurrences?: string[];
  /** Occurrences changed in the series (a moved time, another subject or room). */
  exceptions?: Array<{
    originalStart: string;
    subject: string;
    start: string;
    end: string;
    location: string;
  }>;
  attachments: FileAttachmentSpec[];
}

export interface ContactSpec {
  givenName: string;
  surname: string;
  displayName: string;
  companyName?: string;
  jobTitle?: string;
  department?: string;
  emailAddresses: EmailAddress[];
  businessPhone?: string;
  mobilePhone?: string;
  homePhone?: string;
  /** ISO-8601 UTC. */
  birthday?: string;
  notes?: string;
  photo?: LazyBytes;
}

export interface DistListSpec {
  name: string;
  members: EmailAddress[];
  notes?: string;
}

export type TaskStatus = "notStarted" | "inProgress" | "completed" | "waitingOnOthers" | "deferred";

export interface TaskSpec {
  subject: string;
  body: string;
  status: TaskStatus;
  percentComplete: number;
  start?: string;
  due?: string;
  completed?: string;
  /** 0 low, 1 normal, 2 high. */
  importance: number;
}

export interface NoteSpec {
  body: string;
  /** 0 blue, 1 green, 2 pink, 3 yellow, 4 white. */
  color: number;
}

const RESPONSE_CODES: Record<ResponseType, number> = {
  none: 0,
  organizer: 1,
  tentativelyAccepted: 2,
  accepted: 3,
  declined: 4,
  notResponded: 5,
};
const ATTENDEE_TYPES: Record<AttendeeType, number> = { required: 1, optional: 2, resource: 3 };
const TASK_STATUSES: readonly TaskStatus[] = [
  "notStarted",
  "inProgress",
  "completed",
  "waitingOnOthers",
  "deferred",
];
/** PidTagRecipientFlags: sendable (1) and organizer (2). */
const ORGANIZER_FLAGS = 0x3;
/** PidLidAppointmentStateFlags: meeting (1), received (2). */
const STATE_MEETING = 0x1;
const STATE_RECEIVED = 0x2;

function fileAttachment(a: FileAttachmentSpec, extra: Property[] = []): ItemAttachment {
  return {
    props: [
      ...props([P.attachMethod, 1], [P.attachLongFilename, a.name], [P.attachMimeTag, a.contentType]),
      ...extra,
      ...props([P.attachDataBinary, a.content]),
    ],
  };
}

export function eventContent(e: EventSpec): ItemContent {
  const meeting = e.attendees.length > 0;
  const organized = e.isOrganizer;
  return {
    props: props(
      [P.subject, e.subject],
      [P.body, e.body],
      [P.location, e.location],
      [P.startWhole, e.start],
      [P.endWhole, e.end],
      [P.allDayEvent, e.isAllDay],
      [P.timeZoneDescription, e.timeZone],
      [P.busyStatus, e.busyStatus],
      [P.sensitivity, e.sensitivity],
      [P.importance, 1],
      [P.appointmentStateFlags, (meeting ? STATE_MEETING : 0) | (meeting && !organized ? STATE_RECEIVED : 0)],
      [P.responseStatus, organized ? RESPONSE_CODES.organizer : RESPONSE_CODES.accepted],
      [P.reminderSet, e.reminderMinutes !== undefined],
      [P.reminderMinutes, e.reminderMinutes],
      [P.sentRepresentingName, e.organizer.name],
      [P.sentRepresentingSmtpAddress, e.organizer.address],
      [P.recurring, e.recurrence !== undefined],
      [P.recurrencePattern, e.recurrence ? JSON.stringify(e.recurrence) : undefined],
      [P.deletedOccurrences, e.deletedOccurrences?.length ? e.deletedOccurrences : undefined],
    ),
    recipients: meeting
      ? [
          props(
            [P.recipientType, 1],
            [P.displayName, e.organizer.name],
            [P.smtpAddress, e.organizer.address],
            [P.recipientFlags, ORGANIZER_FLAGS],
            [P.recipientTrackStatus, RESPONSE_CODES.organizer],
          ),
          ...e.attendees.map((a) =>
            props(
              [P.recipientType, ATTENDEE_TYPES[a.type]],
              [P.displayName, a.name],
              [P.smtpAddress, a.address],
              [P.recipientFlags, 1],
              [P.recipientTrackStatus, RESPONSE_CODES[a.response]],
            ),
          ),
        ]
      : [],
    attachments: [
      ...e.attachments.map((a) => fileAttachment(a)),
      ...(e.exceptions ?? []).map(
        (x): ItemAttachment => ({
          props: props(
            [P.attachMethod, 5],
            [P.attachLongFilename, x.subject],
            [P.attachmentHidden, true],
            [P.exceptionReplaceTime, x.originalStart],
          ),
          embedded: contentOf(
            props(
              [P.messageClass, EXCEPTION_CLASS],
              [P.subject, x.subject],
              [P.startWhole, x.start],
              [P.endWhole, x.end],
              [P.location, x.location],
              [P.exceptionReplaceTime, x.originalStart],
            ),
          ),
        }),
      ),
    ],
  };
}

export function contactContent(c: ContactSpec): ItemContent {
  const [first, second] = c.emailAddresses;
  return {
    props: props(
      [P.subject, c.displayName],
      [P.displayName, c.displayName],
      [P.givenName, c.givenName],
      [P.surname, c.surname],
      [P.fileUnder, `${c.surname}, ${c.givenName}`],
      [P.companyName, c.companyName],
      [P.title, c.jobTitle],
      [P.department, c.department],
      [P.email1DisplayName, first ? `${first.name} (${first.address})` : undefined],
      [P.email1Address, first?.address],
      [P.email2Address, second?.address],
      [P.businessTelephoneNumber, c.businessPhone],
      [P.mobileTelephoneNumber, c.mobilePhone],
      [P.homeTelephoneNumber, c.homePhone],
      [P.birthday, c.birthday],
      [P.body, c.notes],
      [P.hasPicture, c.photo !== undefined],
    ),
    recipients: [],
    attachments: c.photo
      ? [
          fileAttachment({ name: "ContactPicture.jpg", contentType: "image/jpeg", content: c.photo }, [
            { def: P.attachmentContactPhoto, value: true },
          ]),
        ]
      : [],
  };
}

export function distListContent(d: DistListSpec): ItemContent {
  return {
    props: props(
      [P.subject, d.name],
      [P.displayName, d.name],
      [P.distributionListName, d.name],
      [P.fileUnder, d.name],
      [P.body, d.notes],
    ),
    recipients: d.members.map((m) =>
      props([P.recipientType, 1], [P.displayName, m.name], [P.smtpAddress, m.address]),
    ),
    attachments: [],
  };
}

export function taskContent(t: TaskSpec): ItemContent {
  return contentOf(
    props(
      [P.subject, t.subject],
      [P.body, t.body],
      [P.importance, t.importance],
      [P.taskStatus, TASK_STATUSES.indexOf(t.status)],
      [P.percentComplete, t.percentComplete],
      [P.taskStartDate, t.start],
      [P.taskDueDate, t.due],
      [P.taskDateCompleted, t.completed],
      [P.taskComplete, t.status === "completed"],
    ),
  );
}

export function noteContent(n: NoteSpec): ItemContent {
  return contentOf(
    props(
      [P.subject, n.body.split("\n")[0] ?? ""],
      [P.body, n.body],
      [P.noteColor, n.color],
      [P.noteWidth, 200],
      [P.noteHeight, 166],
    ),
  );
}

/** The main fields of an item's content, by kind: what browse and search show of it. */
export function summarizeItem(itemClass: string, content: ItemContent): Record<string, unknown> {
  const p = content.props;
  switch (itemClass) {
    case ITEM_CLASSES.event:
      return {
        subject: stringOf(p, P.subject),
        start: stringOf(p, P.startWhole),
        end: stringOf(p, P.endWhole),
        location: stringOf(p, P.location),
        organizer: stringOf(p, P.sentRepresentingSmtpAddress),
        recurrence: stringOf(p, P.recurrencePattern),
        attendees: content.recipients.length > 0 ? content.recipients.length - 1 : 0,
        exceptions: content.attachments.filter((a) => a.embedded).length,
      };
    case ITEM_CLASSES.contact:
      return {
        displayName: stringOf(p, P.displayName),
        email: stringOf(p, P.email1Address),
        company: stringOf(p, P.companyName),
        mobile: stringOf(p, P.mobileTelephoneNumber),
        hasPhoto: propValue(p, P.hasPicture) === true,
      };
    case ITEM_CLASSES.distList:
      return { name: stringOf(p, P.distributionListName), members: content.recipients.length };
    case ITEM_CLASSES.task:
      return {
        subject: stringOf(p, P.subject),
        due: stringOf(p, P.taskDueDate),
        status: TASK_STATUSES[numberOf(p, P.taskStatus) ?? 0],
      };
    case ITEM_CLASSES.note:
      return { subject: stringOf(p, P.subject), color: numberOf(p, P.noteColor) };
    default:
      return { subject: stringOf(p, P.subject) };
  }
}
