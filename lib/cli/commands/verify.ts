/**
 * `mailstream verify [job]`: reads back every blob the catalog names (of one job, or all),
 * checks hashes and sizes, and lists what is missing or damaged. Exit 1 when anything is wrong.
 */
import type { Command } from "commander";
import { createProgress } from "../../export/progress.js";
import { verifyArchive } from "../../verify/verify-blobs.js";
import { type ArchiveOptions, addArchiveOptions, withArchive } from "../format/archive-options.js";
import { type CommandIO, processIO, writeJson } from "../format/output.js";

export interface VerifyCommandOptions extends ArchiveOptions {
  json?: boolean;
}

export async function verifyCommand(
  job: string | undefined,
  opts: VerifyCommandOptions,
  io: CommandIO = processIO,
): Promise<number> {
  return withArchive(opts, async (ctx) => {
    const progress = createProgress("verify", io.err);
    const result = await verifyArchive(ctx.archive, {
      ...(job !== undefined ? { jobId: job } : {}),
      onProgress: (d, t) => progress.update(d, t),
    });
    progress.stop();
    const ok = result.problems.length === 0 && result.catalogErrors.length === 0;
    if (opts.json) writeJson(io.out, { ok, ...result });
    else {
      for (const e of result.catalogErrors) io.out.write(`damaged catalog line: ${e}\n`);
      for (const p of result.problems) {
        const r = p.referencedBy;
        io.out.write(
          `${p.kind} blob ${p.sha256} (message ${r.messageId} of mailbox ${r.mailboxId}, job ${r.jobId}): ${p.detail}\n`,
        );
      }
      io.out.write(
        `${ok ? "OK" : "PROBLEMS"}: ${result.blobsChecked} blobs (${result.bytesRead} bytes) of ${result.jobs.length} jobs checked; ${result.problems.filter((p) => p.kind === "missing").length} missing, ${result.problems.filter((p) => p.kind === "damaged").length} damaged, ${result.catalogErrors.length} damaged catalog lines\n`,
      );
    }
    return ok ? 0 : 1;
  });
}

export function registerVerify(program: Command): void {
  addArchiveOptions(
    program
      .command("verify")
      .argument("[job]", "job id (default: every job)")
      .description(
        "Read back the archived blobs, check their hashes against the catalog, report missing or damaged ones",
      ),
  )
    .option("--json", "print the result as JSON")
    .action(async (job: string | undefined, opts: VerifyCommandOptions) => {
      process.exitCode = await verifyCommand(job, opts);
    });
}
