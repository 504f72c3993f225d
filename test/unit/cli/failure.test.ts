/**
 * Exit codes follow from what an error is (its class; for Node, the AWS SDK, MSAL and the Graph
 * client, their documented codes), and the line is one line.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { BlobIntegrityError, CatalogPartError, ObjectNotFoundError } from "../../../lib/archive/errors.js";
import { AmbiguousNameError, ArchiveLookupError } from "../../../lib/catalog-index/errors.js";
import { UsageError } from "../../../lib/cli/errors.js";
import { EXIT } from "../../../lib/cli/exit-codes.js";
import { classify, oneLine } from "../../../lib/cli/failure.js";
import { DataFolderBusyError } from "../../../lib/dev/local/data-lock.js";
import { withoutNamesakes } from "../../../lib/dev/local/trust-ca.js";
import { ensureSimulatorCa } from "../../../lib/dev/sim/server/ca.js";
import { ConfigError, FatalError, RetryableError } from "../../../lib/errors.js";
import { OutputError } from "../../../lib/export/errors.js";

const withCause = (message: string, cause: object) => Object.assign(new Error(message), { cause });

describe("classify", () => {
  it("gives each kind of failure its documented code", () => {
    const cases: Array<[unknown, number]> = [
      [new CommanderError(1, "commander.unknownOption", "error: unknown option '--x'"), EXIT.usage],
      [new UsageError("--archive: expected …"), EXIT.usage],
      [new AmbiguousNameError("job: …", ["a", "b"]), EXIT.usage],
      [new ConfigError("streams.max", "expected an integer"), EXIT.config],
      [new ArchiveLookupError("mailbox: found none"), EXIT.notFound],
      [new BlobIntegrityError("blob: expected …"), EXIT.damaged],
      [new CatalogPartError("catalog/x", "1 lost (truncated)"), EXIT.damaged],
      [new ObjectNotFoundError("blobs/sha256/aa/bb/x.eml"), EXIT.damaged],
      [new OutputError("-o x: exists"), EXIT.cannotCreate],
      [new DataFolderBusyError("/d", { pid: 1, since: "t", command: "run" }), EXIT.busy],
      [new RetryableError("gave up"), EXIT.unavailable],
      [withCause("archive: expected a readable archive", { code: "ECONNREFUSED" }), EXIT.unavailable],
      [withCause("token", { errorCode: "invalid_client" }), EXIT.denied],
      [withCause("token", { errorCode: "endpoints_resolution_error" }), EXIT.config],
      [Object.assign(new Error("AccessDenied"), { name: "AccessDenied", $metadata: {} }), EXIT.denied],
      [Object.assign(new Error("no bucket"), { name: "NoSuchBucket", $metadata: {} }), EXIT.notFound],
      // The Graph client wraps what a request threw (our token errors too) in its GraphError.
      [
        Object.assign(new Error("expected an access token"), { statusCode: -1, requestId: null }),
        EXIT.unavailable,
      ],
      [Object.assign(new Error("Forbidden"), { statusCode: 403, requestId: "r" }), EXIT.denied],
      [new FatalError("something named"), EXIT.failed],
      [new TypeError("x is undefined"), EXIT.internal],
    ];
    for (const [error, code] of cases) expect(classify(error).code, String(error)).toBe(code);
    expect(classify(new TypeError("x is undefined")).message).toMatch(/--debug/);
  });

  it("makes one line of a message with several", () => {
    expect(oneLine("configuration a: bad\nconfiguration b: bad\n")).toBe(
      "configuration a: bad; configuration b: bad",
    );
    expect(classify(new ConfigError("a", "bad\nconfiguration b: bad")).message).not.toContain("\n");
  });
});

describe("trusting the data folder's CA", () => {
  it("drops another CA of the same name (another data folder's, the tests'), keeps the rest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "namesakes-"));
    try {
      const ours = await ensureSimulatorCa(join(dir, "ours"));
      const theirs = await ensureSimulatorCa(join(dir, "theirs"));
      const unrelated = "not a certificate";
      expect(withoutNamesakes([theirs.caCertPem, unrelated, ours.caCertPem], ours.caCertPem)).toEqual([
        unrelated,
        ours.caCertPem,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
