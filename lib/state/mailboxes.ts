import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { META, mailboxPk } from "./keys.js";
import type { MailboxInfo, MailboxRecord } from "./records.js";
import { isConditionFailed, type StateTable, strip } from "./table.js";

/** Records what discovery knows of a mailbox (`MBX#<id>`/`META`), keeping its last successful job. */
export async function putMailbox(t: StateTable, mailbox: MailboxInfo): Promise<void> {
  await t.send((ddb) =>
    ddb.send(
      new UpdateCommand({
        TableName: t.name,
        Key: { pk: mailboxPk(mailbox.mailboxId), sk: META },
        UpdateExpression:
          "SET mailboxId = :id, address = :address, displayName = :name, #type = :type, updatedAt = :now",
        ExpressionAttributeNames: { "#type": "type" },
        ExpressionAttributeValues: {
          ":id": mailbox.mailboxId,
          ":address": mailbox.address,
          ":name": mailbox.displayName,
          ":type": mailbox.type,
          ":now": t.nowIso(),
        },
      }),
    ),
  );
}

export async function getMailbox(t: StateTable, mailboxId: string): Promise<MailboxRecord | undefined> {
  const item = await t.get(mailboxPk(mailboxId), META);
  return item ? (strip(item) as unknown as MailboxRecord) : undefined;
}

/**
 * Records that `jobId` backed the mailbox up completely. Never moves backwards: returns false
 * (and writes nothing) when a newer job is already recorded.
 */
export async function recordMailboxSuccess(
  t: StateTable,
  mailboxId: string,
  jobId: string,
): Promise<boolean> {
  try {
    await t.send((ddb) =>
      ddb.send(
        new UpdateCommand({
          TableName: t.name,
          Key: { pk: mailboxPk(mailboxId), sk: META },
          UpdateExpression: "SET lastSuccessfulJob = :job, mailboxId = :id",
          ConditionExpression: "attribute_not_exists(lastSuccessfulJob) OR lastSuccessfulJob <= :job",
          ExpressionAttributeValues: { ":job": jobId, ":id": mailboxId },
        }),
      ),
    );
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}
