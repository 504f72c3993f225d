/**
 * A job's finalization in pieces (lib/backup/finalize.ts): once the report and the manifest are
 * written, what is left is a walk over the job's records (staged sync states, then mailboxes),
 * each page a few hundred conditional writes. The walk's position is kept in the job's META
 * (`finalizeProgress`), so an invocation near its deadline stops between pages and another goes
 * on from there; every write is conditional and safe to repeat, so a piece done twice costs
 * only its requests.
 */

import type { FinalizeProgress, MailboxEnd } from "../backup/ports.js";
import { jobsEntryStatus } from "./jobs.js";
import { JOB_MAILBOX_PREFIX, jobMailboxSk, jobPk, META, mailboxPk } from "./keys.js";
import { mailboxesPage } from "./report-pages.js";
import { inChunks, type StateTable } from "./table.js";

/**
 * Records where the job's finalization stands, and refreshes the job's `updatedAt` (its META and
 * its `JOBS` entry), so the sweep, which finalizes again a job `finalizing` with no sign of life,
 * sees one. False (nothing written) when the job is no longer `finalizing`.
 */
export async function saveFinalizeProgress(
  t: StateTable,
  jobId: string,
  progress: FinalizeProgress,
): Promise<boolean> {
  const now = t.nowIso();
  const outcome = await t.transact([
    t.update(
      jobPk(jobId),
      META,
      "SET finalizeProgress = :p, updatedAt = :now",
      { ":p": progress, ":now": now, ":finalizing": "finalizing" },
      "attribute_exists(pk) AND #status = :finalizing",
      { "#status": "status" },
    ),
    jobsEntryStatus(t, jobId, "finalizing", now),
  ]);
  return outcome.ok;
}

/**
 * The job's mailboxes as finalization ends them, in id order (code units, as `after` compares):
 * the tree each wrote (its job record) and whether every unit of it completed every folder.
 */
export function mailboxEnds(
  mailboxes: ReadonlyArray<{ mailboxId: string; folderTreeHash?: string }>,
  units: ReadonlyArray<{ mailboxId: string; status: string; incompleteFolders: readonly string[] }>,
): MailboxEnd[] {
  const complete = new Map<string, boolean>();
  for (const u of units) {
    const done = u.status === "done" && u.incompleteFolders.length === 0;
    complete.set(u.mailboxId, (complete.get(u.mailboxId) ?? true) && done);
  }
  const ends = new Map<string, MailboxEnd>();
  for (const m of mailboxes) {
    ends.set(m.mailboxId, {
      mailboxId: m.mailboxId,
      ...(m.folderTreeHash !== undefined ? { treeHash: m.folderTreeHash } : {}),
      complete: complete.get(m.mailboxId) ?? false,
    });
  }
  // A unit's mailbox without a mailbox record (older plans) still gets its last success.
  for (const [mailboxId, done] of complete) {
    if (!ends.has(mailboxId)) ends.set(mailboxId, { mailboxId, complete: done });
  }
  return [...ends.values()].sort((a, b) =>
    a.mailboxId < b.mailboxId ? -1 : a.mailboxId > b.mailboxId ? 1 : 0,
  );
}

/**
 * One page of {@link mailboxEnds} for a job whose mailbox records list their units: at most
 * `limit` mailboxes after the id `after`, in id order, each from its record and its units alone,
 * so that a step reads a page of records instead of every unit of the job. `last`: the page's
 * last mailbox id while more may follow.
 */
export async function mailboxEndsPage(
  t: StateTable,
  jobId: string,
  after: string | undefined,
  limit: number,
  unitCount: number,
): Promise<{ ends: MailboxEnd[]; last?: string }> {
  const page = await mailboxesPage(
    t,
    jobId,
    after !== undefined ? jobMailboxSk(after) : undefined,
    limit,
    unitCount,
  );
  const ends = page.records.map(({ mailbox, units }) => ({
    mailboxId: mailbox.mailboxId,
    ...(mailbox.folderTreeHash !== undefined ? { treeHash: mailbox.folderTreeHash } : {}),
    complete: units.length > 0 && units.every((u) => u.status === "done" && u.incompleteFolders.length === 0),
  }));
  return { ends, ...(page.last !== undefined ? { last: page.last.slice(JOB_MAILBOX_PREFIX.length) } : {}) };
}

/** The job's mailbox records (`JOB#<j>`/`MAILBOX#<m>`): the trees it wrote. */
export async function jobMailboxTrees(
  t: StateTable,
  jobId: string,
): Promise<Array<{ mailboxId: string; folderTreeHash?: string }>> {
  return (await t.query(jobPk(jobId), JOB_MAILBOX_PREFIX)).map((m) => ({
    mailboxId: m.mailboxId as string,
    ...(typeof m.folderTreeHash === "string" ? { folderTreeHash: m.folderTreeHash } : {}),
  }));
}

/**
 * Ends mailboxes of the job in their META (`MBX#<m>`): the tree the job wrote becomes the
 * mailbox's (`folderTreeHash`, `folderTreeJob`) and, when the job backed it up completely, the
 * job its `lastSuccessfulJob`; each only over an older job's (a late finalization of an older job
 * never replaces a newer one's). One conditional update per mailbox, both at once, sent 100 to a
 * transaction (`transactEach`: a mailbox refused is left out of its transaction's repeat), as
 * they all pass unless jobs finalize out of order; a refused one then gets one update per
 * attribute (the other may still be older).
 */
export async function endMailboxes(t: StateTable, jobId: string, ends: readonly MailboxEnd[]): Promise<void> {
  const tree = {
    set: "folderTreeHash = :hash, folderTreeJob = :job",
    condition: "(attribute_not_exists(folderTreeJob) OR folderTreeJob <= :job)",
  };
  const success = {
    set: "lastSuccessfulJob = :job, mailboxId = :id",
    condition: "(attribute_not_exists(lastSuccessfulJob) OR lastSuccessfulJob <= :job)",
  };
  const update = (end: MailboxEnd, parts: Array<typeof tree>) => {
    const values: Record<string, unknown> = { ":job": jobId };
    if (parts.includes(tree)) values[":hash"] = end.treeHash;
    if (parts.includes(success)) values[":id"] = end.mailboxId;
    return t.update(
      mailboxPk(end.mailboxId),
      META,
      `SET ${parts.map((p) => p.set).join(", ")}`,
      values,
      parts.map((p) => p.condition).join(" AND "),
    );
  };
  const partsOf = (end: MailboxEnd) => [
    ...(end.treeHash !== undefined ? [tree] : []),
    ...(end.complete ? [success] : []),
  ];
  const ending = ends.filter((end) => partsOf(end).length > 0);
  const written = await t.transactEach(ending.map((end) => update(end, partsOf(end))));
  const refused = ending.filter((end, i) => !written[i] && partsOf(end).length > 1);
  await inChunks(refused, 16, async (end) => {
    for (const part of partsOf(end)) await t.transactEach([update(end, [part])]);
  });
}
