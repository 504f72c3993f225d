/**
 * The job's records a page at a time, as a finalization in pieces reads them for the report
 * (lib/backup/finalize.ts): its units in index order, its mailboxes in id order each with its
 * units, its skipped mailboxes. Each page is one Query (and, for mailboxes, the BatchGetItem
 * requests of their units), so a piece's reads stay the same at any tenant size.
 */
import { JOB_MAILBOX_PREFIX, jobPk, SKIPPED_PREFIX, UNIT_PREFIX } from "./keys.js";
import { unitsByIndex } from "./reads.js";
import type { MailboxInfo, SkippedMailbox, UnitRecord } from "./records.js";
import { type StateTable, strip } from "./table.js";

export interface RecordPage<T> {
  records: T[];
  /** The sort key the next page starts after; undefined when none is left. */
  last?: string;
}

/** A job's mailbox record with its units' records (those the plan still counts). */
export interface MailboxWithUnits {
  mailbox: MailboxInfo;
  units: UnitRecord[];
}

/** Units of the job after the sort key `after`, at most `limit`, in index order (below `unitCount`). */
export async function unitsPage(
  t: StateTable,
  jobId: string,
  after: string | undefined,
  limit: number,
  unitCount: number,
): Promise<RecordPage<UnitRecord>> {
  const { items, last } = await t.queryPage(jobPk(jobId), UNIT_PREFIX, {
    ...(after !== undefined ? { after } : {}),
    limit,
  });
  const records = items.map((i) => strip(i) as unknown as UnitRecord).filter((u) => u.index < unitCount);
  return { records, ...(last !== undefined ? { last } : {}) };
}

/**
 * Mailbox records of the job after the sort key `after`, at most `limit`, in id order, each with
 * its units (read by key from the indexes the record lists: records written since 2026-12-07).
 */
export async function mailboxesPage(
  t: StateTable,
  jobId: string,
  after: string | undefined,
  limit: number,
  unitCount: number,
): Promise<RecordPage<MailboxWithUnits>> {
  const { items, last } = await t.queryPage(jobPk(jobId), JOB_MAILBOX_PREFIX, {
    ...(after !== undefined ? { after } : {}),
    limit,
  });
  const mailboxes = items.map((i) => strip(i) as unknown as MailboxInfo);
  const indexes = mailboxes.flatMap((m) => (m.units ?? []).filter((i) => i < unitCount));
  const byIndex = await unitsByIndex(t, jobId, indexes);
  const records = mailboxes.map((mailbox) => ({
    mailbox,
    units: (mailbox.units ?? []).flatMap((i) => byIndex.get(i) ?? []),
  }));
  return { records, ...(last !== undefined ? { last } : {}) };
}

/** Skipped-mailbox records of the job after the sort key `after`, at most `limit`. */
export async function skippedPage(
  t: StateTable,
  jobId: string,
  after: string | undefined,
  limit: number,
): Promise<RecordPage<SkippedMailbox>> {
  const { items, last } = await t.queryPage(jobPk(jobId), SKIPPED_PREFIX, {
    ...(after !== undefined ? { after } : {}),
    limit,
  });
  return {
    records: items.map((i) => strip(i) as unknown as SkippedMailbox),
    ...(last !== undefined ? { last } : {}),
  };
}
