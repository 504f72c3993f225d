import { PutCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { createAwsClients } from "../lib/aws/clients.js";
import { startEmulators } from "../lib/dev/local/emulators.js";
import { createStateTable } from "../lib/dev/local/state-table.js";
const em = await startEmulators({});
const c = createAwsClients(em.endpoints);
try {
  await createStateTable(c.dynamodb, "tab1");
  await c.ddb.send(new PutCommand({ TableName: "tab1", Item: { pk: "a", sk: "b", n: 5, s: new Set([1, 2]) } }));
  try {
    await c.ddb.send(
      new UpdateCommand({
        TableName: "tab1",
        Key: { pk: "a", sk: "b" },
        UpdateExpression: "ADD n :one",
        ConditionExpression: "n < :zero",
        ExpressionAttributeValues: { ":one": 1, ":zero": 0 },
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
  } catch (e) {
    console.log((e as Error).name, JSON.stringify((e as any).Item));
  }
  try {
    await c.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: "tab1",
              Key: { pk: "a", sk: "b" },
              UpdateExpression: "ADD n :one",
              ConditionExpression: "n < :zero",
              ExpressionAttributeValues: { ":one": 1, ":zero": 0 },
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            },
          },
        ],
      }),
    );
  } catch (e) {
    console.log((e as Error).name, JSON.stringify((e as any).CancellationReasons));
  }
} finally {
  c.destroy();
  await em.stop();
}
