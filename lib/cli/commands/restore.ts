/**
 * `mailstream restore <mailbox> [folder] [--message id] [--to mailbox] [--into name|--original]
 * [--archive-into-primary] [--at job|date] [--dry-run]`: puts archived mail back into a mailbox of the configured tenant.
 */

import { graphGatewayFromConfig } from "../../app/graph-gateway.js";
import { createProgress } from "../../export/progress.js";
import { selectMessages, withMimeOnly } from "../../export/selection.js";
import type { GraphGateway } from "../../graph/client.js";
import { restoreByImport } from "../../restore/import-restore.js";
import { defaultRestoreFolder, restoreSelection } from "../../restore/restore-run.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { type CommandIO, processIO, reportCatalogErrors, writeJson } from "../format/output.js";
import type { ArchiveOptions } from "../options.js";

export interface RestoreCommandOptions extends ArchiveOptions {
  /** `--message <id>`: restore this one message only. */
  message?: string;
  /** `--to <mailbox>`: target mailbox (address or id); default the source mailbox. */
  to?: string;
  /** `--into <folder>`: top folder to restore under; default `Restored <date>`. */
  into?: string;
  /** `--original`: into the original folder paths instead of a new folder. */
  original?: boolean;
  /** `--archive-into-primary`: an archive's folders into the target's primary mailbox, under `In-Place Archive/`. */
  archiveIntoPrimary?: boolean;
  at?: string;
  dryRun?: boolean;
  json?: boolean;
  /** `--config <file>`: tenant configuration (else MAILSTREAM_* environment variables). */
  config?: string;
  /** Tests pass the gateway of a simulator; otherwise it is built from the configuration. */
  gateway?: GraphGateway;
}

export async function restoreCommand(
  mailbox: string,
  folder: string | undefined,
  opts: RestoreCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  return withArchive(opts, async (ctx) => {
    const selected = await selectMessages(ctx.archive, {
      mailbox,
      ...(folder !== undefined ? { folder } : {}),
      ...(opts.message !== undefined ? { message: opts.message } : {}),
      ...(opts.at !== undefined ? { at: opts.at } : {}),
    });
    const damaged = reportCatalogErrors(io.err, selected.view.errors);
    // Messages kept as MIME are created from it; items kept as export streams (every other kind,
    // mail in content mode fidelity) are imported exactly through import sessions.
    const { selection, withoutMime } = withMimeOnly(selected);
    const byId = new Map(selected.view.folders.map((f) => [f.folderId, f]));
    const importFolders = selected.folders.map((f) => {
      const viewed = byId.get(f.folderId);
      return {
        ...f,
        ...(viewed?.class !== undefined ? { class: viewed.class } : {}),
        ...(viewed?.mailbox !== undefined ? { mailbox: viewed.mailbox } : {}),
      };
    });
    const classOfPath = new Map(
      selected.view.folders.flatMap((f) =>
        f.path !== undefined ? [[f.path, f.class ?? "IPF.Note"] as const] : [],
      ),
    );
    const built = opts.gateway ? undefined : await graphGatewayFromConfig(opts.config);
    try {
      const progress = createProgress(opts.dryRun ? "plan" : "restore", io.err);
      const targetUser = opts.to ?? selection.mailbox.address;
      const result = await restoreSelection(ctx.archive, opts.gateway ?? built!.gateway, selection, {
        targetUser,
        intoFolder: opts.original ? null : (opts.into ?? defaultRestoreFolder()),
        dryRun: opts.dryRun ?? false,
        onProgress: (d, t) => progress.update(d, t),
      });
      const imported =
        withoutMime > 0
          ? await restoreByImport(ctx.archive, opts.gateway ?? built!.gateway, importFolders, classOfPath, {
              targetUser,
              intoFolder: opts.original ? null : (opts.into ?? defaultRestoreFolder()),
              archiveInto: opts.archiveIntoPrimary ? "primary" : "archive",
              dryRun: opts.dryRun ?? false,
            })
          : undefined;
      progress.stop();
      if (opts.json)
        writeJson(io.out, {
          dryRun: opts.dryRun ?? false,
          targetUser,
          jobId: selection.jobId,
          ...result,
          ...(imported ? { imported } : {}),
        });
      else {
        if (opts.dryRun) {
          for (const f of result.foldersCreated) io.out.write(`would create folder ${f}\n`);
          for (const i of result.items) {
            io.out.write(
              `${i.action === "create" ? "would restore" : "already there"} ${i.messageId} → ${i.targetPath}${
                i.replacesIncomplete
                  ? ` (replacing ${i.replacesIncomplete} copy without all attachments)`
                  : ""
              }\n`,
            );
          }
        }
        io.out.write(
          `${opts.dryRun ? "dry run: would restore" : "restored"} ${result.created} messages into ${targetUser} (${result.skipped} already there, ${result.foldersCreated.length} folders ${opts.dryRun ? "to create" : "created"}) from job ${selection.jobId}\n`,
        );
        if (imported) {
          if (opts.dryRun) {
            for (const f of imported.foldersCreated) io.out.write(`would create folder ${f}\n`);
            for (const i of imported.items)
              io.out.write(
                `${i.action === "create" ? "would import" : "already there"} ${i.messageId} → ${i.targetPath}\n`,
              );
          }
          io.out.write(
            `${opts.dryRun ? "dry run: would import" : "imported"} ${imported.created} items at full fidelity (${imported.skipped} already there, ${imported.foldersCreated.length} folders ${opts.dryRun ? "to create" : "created"})\n`,
          );
        }
      }
      return damaged > 0 ? EXIT.damaged : EXIT.ok;
    } finally {
      built?.close();
    }
  });
}
