import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import { createAwsClients } from "../../../lib/aws/clients.js";
import { startEmulators } from "../../../lib/dev/local/emulators.js";
import { createStateTable } from "../../../lib/dev/local/state-table.js";

const dir = mkdtempSync(join(tmpdir(), "mailstream-emulators-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("emulators for the local runtime", () => {
  it("keep DynamoDB state in dynamoDbPath across a restart and write a log", async () => {
    const dbPath = join(dir, "db");
    const logDir = join(dir, "logs");

    const first = await startEmulators({ dynamoDbPath: dbPath, logDir });
    const firstClients = createAwsClients(first.endpoints);
    try {
      await createStateTable(firstClients.dynamodb, "mailstream-state");
      await firstClients.ddb.send(
        new PutCommand({
          TableName: "mailstream-state",
          Item: { pk: "MBX#1", sk: "FOLDER#inbox", delta: "d1" },
        }),
      );
    } finally {
      firstClients.destroy();
      await first.stop();
    }

    const second = await startEmulators({ dynamoDbPath: dbPath, logDir });
    const secondClients = createAwsClients(second.endpoints);
    try {
      expect(second.endpoints.dynamodb).not.toBe(first.endpoints.dynamodb);
      const tables = await secondClients.dynamodb.send(new ListTablesCommand({}));
      expect(tables.TableNames).toEqual(["mailstream-state"]);
      const got = await secondClients.ddb.send(
        new GetCommand({ TableName: "mailstream-state", Key: { pk: "MBX#1", sk: "FOLDER#inbox" } }),
      );
      expect(got.Item?.delta).toBe("d1");
    } finally {
      secondClients.destroy();
      await second.stop();
    }
    // DynamoDB Local prints its port on start; both runs appended to the same log.
    const log = readFileSync(join(logDir, "dynamodb-local.log"), "utf8");
    expect(log).toContain(new URL(first.endpoints.dynamodb!).port);
    expect(log).toContain(new URL(second.endpoints.dynamodb!).port);
  });
});
