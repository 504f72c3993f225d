import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { META, mailboxPk } from "./keys.js";
import type { MailboxInfo, MailboxRecord } from "./records.js";
import { type StateTable, strip } from "./table.js";

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
