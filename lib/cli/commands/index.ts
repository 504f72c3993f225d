/**
 * `mailstream index`: builds the search index as of a job (default the newest), so that `search`
 * answers from a few ranged reads instead of replaying every mailbox's catalog. Mailboxes whose
 * catalog did not change since the previous index keep their rows (no new object); only the
 * changed ones are replayed.
 */
import { buildSearchIndex } from "../../catalog-index/search-index/build.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { type CommandIO, processIO, writeJson } from "../format/output.js";
import type { ArchiveOptions } from "../options.js";

export interface IndexCommandOptions extends ArchiveOptions {
  /** `--at`: "latest" (default), a job id, or a date/time. */
  at?: string;
  json?: boolean;
}

export async function indexCommand(opts: IndexCommandOptions, io: CommandIO = processIO): Promise<ExitCode> {
  return withArchive(opts, async (ctx) => {
    const started = performance.now();
    const result = await buildSearchIndex(ctx.archive, { ...(opts.at !== undefined ? { at: opts.at } : {}) });
    const seconds = (performance.now() - started) / 1000;
    if (opts.json) writeJson(io.out, { ...result, seconds });
    else {
      const what = result.key
        ? `${result.rebuilt} mailboxes indexed, ${result.updated} updated per changed item (${result.rows} items, ${result.segmentsWritten} segments), ${result.reused} kept from the previous index, ${result.puts} objects written`
        : `already current (${result.reused} mailboxes), nothing written`;
      io.out.write(`search index as of job ${result.jobId}: ${what} in ${seconds.toFixed(2)} s\n`);
      if (result.uncovered.length > 0) {
        io.err.write(
          `mailstream: ${result.uncovered.length} mailboxes left out (damaged catalog; search scans them and reports it): ${result.uncovered.join(", ")}\n`,
        );
      }
    }
    return EXIT.ok;
  });
}
