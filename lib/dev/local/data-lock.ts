/**
 * One `mailstream run` at a time per data folder: two runs would share DynamoDB Local's files,
 * the tenant file and the archive. The lock is a file (`run.lock`) created exclusively, holding
 * the owner's pid, start time and command line, so that a second run can say who holds it. A lock
 * whose process is gone (killed, crashed) is stale and taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { BusyError } from "../../cli/errors.js";
import { processAlive } from "./process-alive.js";

export const LOCK_FILE = "run.lock";

/** What the lock file holds. */
export interface LockOwner {
  pid: number;
  /** ISO time the lock was taken. */
  since: string;
  /** The command line of the holder, for the message of a second run. */
  command: string;
}

/** The data folder is in use by another live process. */
export class DataFolderBusyError extends BusyError {
  readonly owner: LockOwner;
  constructor(dataDir: string, owner: LockOwner) {
    super(
      `data folder ${dataDir}: expected no other run using it, found process ${owner.pid} (\`${owner.command}\`, since ${owner.since}) holding ${LOCK_FILE}; wait for it to end, or stop it (kill ${owner.pid})`,
    );
    this.owner = owner;
  }
}

export interface DataLock {
  readonly file: string;
  /** Removes the lock if this process still holds it. Safe to call twice. */
  release(): void;
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(file, "utf8")) as Partial<LockOwner>;
    return typeof owner.pid === "number" && Number.isInteger(owner.pid) && owner.pid > 0
      ? { pid: owner.pid, since: String(owner.since ?? "?"), command: String(owner.command ?? "?") }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the data folder's lock for this process, or throws {@link DataFolderBusyError} naming the
 * live process that holds it. A lock left by a dead process (or unreadable) is replaced.
 */
export function acquireDataLock(dataDir: string, command = process.argv.slice(1).join(" ")): DataLock {
  const file = join(dataDir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, since: new Date().toISOString(), command };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, "wx");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = readOwner(file);
      if (owner && owner.pid !== process.pid && processAlive(owner.pid))
        throw new DataFolderBusyError(dataDir, owner);
      // Stale (its process is gone) or half-written by a starter that died: remove it, unless it
      // changed since it was read (another run took it over meanwhile), and try again.
      if (readOwner(file)?.pid === owner?.pid) rmSync(file, { force: true });
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(me)}\n`);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      file,
      release() {
        if (released) return;
        released = true;
        if (readOwner(file)?.pid === process.pid) rmSync(file, { force: true });
      },
    };
  }
  const owner = readOwner(file);
  throw new DataFolderBusyError(dataDir, owner ?? { pid: 0, since: "?", command: "another run starting" });
}
