/** The kinds of item a local run's job stored (its local archive), for `mailstream run`'s summary. */
import { join } from "node:path";
import { type JobKinds, jobItemKinds } from "../../archive/job-kinds.js";
import { LocalObjectStore } from "../../archive/local-store.js";

export { formatJobKinds, type JobKinds } from "../../archive/job-kinds.js";

/** Items of each kind the job stored in the data folder's archive, over the given mailboxes. */
export function localJobKinds(
  dataDir: string,
  jobId: string,
  mailboxIds: readonly string[],
): Promise<JobKinds> {
  return jobItemKinds(new LocalObjectStore(join(dataDir, "archive")), jobId, mailboxIds);
}
