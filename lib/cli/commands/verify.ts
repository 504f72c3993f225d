/**
 * `mailstream verify [job]`: reads back every blob the catalog names (of one job, or all),
 * checks hashes and sizes, and lists what is missing or damaged. Exit 1 when anything is wrong.
 */
import { createProgress } from "../../export/progress.js";
import { verifyArchive } from "../../verify/verify-blobs.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { type CommandIO, processIO, writeJson } from "../format/output.js";
import type { ArchiveOptions } from "../options.js";

export interface VerifyCommandOptions extends ArchiveOptions {
  json?: boolean;
}

export async function verifyCommand(
  job: string | undefined,
  opts: VerifyCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  return withArchive(opts, async (ctx) => {
    const progress = createProgress("verify", io.err);
    const result = await verifyArchive(ctx.archive, {
      ...(job !== undefined ? { jobId: job } : {}),
      onProgress: (d, t) => progress.update(d, t),
    });
    progress.stop();
    const ok =
      result.problems.length === 0 &&
      result.catalogErrors.length === 0 &&
      result.countProblems.length === 0 &&
      result.packIndexErrors.length === 0;
    if (opts.json) writeJson(io.out, { ok, ...result });
    else {
      for (const e of result.catalogErrors) io.out.write(`damaged catalog: ${e}\n`);
      for (const c of result.countProblems) io.out.write(`catalog and report differ: ${c}\n`);
      for (const e of result.packIndexErrors)
        io.out.write(`damaged pack index (its bodies are stored again by the next backup): ${e}\n`);
      for (const p of result.problems) {
        const r = p.referencedBy;
        io.out.write(
          `${p.kind} blob ${p.sha256} (message ${r.messageId} of mailbox ${r.mailboxId}, job ${r.jobId}): ${p.detail}\n`,
        );
      }
      io.out.write(
        `${ok ? "OK" : "PROBLEMS"}: ${result.blobsChecked} blobs (${result.bytesRead} bytes) of ${result.jobs.length} jobs checked; ${result.problems.filter((p) => p.kind === "missing").length} missing, ${result.problems.filter((p) => p.kind === "damaged").length} damaged; ${result.catalogErrors.length} catalog damages; ${result.countProblems.length} differences between catalog and report; ${result.packIndexErrors.length} damaged pack indexes\n`,
      );
    }
    return ok ? EXIT.ok : EXIT.damaged;
  });
}
