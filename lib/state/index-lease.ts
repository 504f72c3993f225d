/**
 * The search index's build lease (`pk INDEX`, `sk SEARCH`): one index task builds at a time, so
 * two tasks at once (copies of a task, two jobs finalized close together) never both write a
 * manifest for the same job, the later one overwriting the other's with what it saw (S3 has no
 * compare-and-swap that every store here honours). A lease ends when its holder releases it, or
 * at `until` when the holder died (an invocation is never longer than Lambda's 15 minutes). A
 * build that runs in pieces over several invocations takes it in each, until that invocation's
 * deadline: its progress is a checkpoint in the archive (search-index/build-progress.ts), so a
 * build whose holder died is gone on with by whichever task takes the lease next.
 */
import type { StateTable } from "./table.js";

export const INDEX_LEASE_PK = "INDEX";
export const INDEX_LEASE_SK = "SEARCH";

/** Takes the lease for `owner` until `untilMs` (epoch ms) when nobody holds it; false otherwise. */
export async function acquireIndexLease(t: StateTable, owner: string, untilMs: number): Promise<boolean> {
  const now = t.now().getTime();
  const taken = await t.updateReturning({
    Key: { pk: INDEX_LEASE_PK, sk: INDEX_LEASE_SK },
    UpdateExpression: "SET #owner = :owner, #until = :until, takenAt = :now",
    ConditionExpression: "attribute_not_exists(#owner) OR #until < :nowMs",
    ExpressionAttributeNames: { "#owner": "owner", "#until": "until" },
    ExpressionAttributeValues: {
      ":owner": owner,
      ":until": untilMs,
      ":now": new Date(now).toISOString(),
      ":nowMs": now,
    },
  });
  return taken !== undefined;
}

/** Gives the lease back, if `owner` still holds it. */
export async function releaseIndexLease(t: StateTable, owner: string): Promise<void> {
  await t.updateReturning({
    Key: { pk: INDEX_LEASE_PK, sk: INDEX_LEASE_SK },
    UpdateExpression: "REMOVE #owner, #until",
    ConditionExpression: "#owner = :owner",
    ExpressionAttributeNames: { "#owner": "owner", "#until": "until" },
    ExpressionAttributeValues: { ":owner": owner },
  });
}
