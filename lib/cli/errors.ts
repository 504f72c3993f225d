/**
 * Failures of the command line itself, each a class so that the exit code follows from what
 * went wrong (see failure.ts), never from a message or a name string.
 */
import { FatalError } from "../errors.js";

/** A command line that cannot be carried out as typed: options that do not go together, a missing argument. */
export class UsageError extends FatalError {}

/** Something the command needs is in use by another process (the data folder of a running `run`). */
export class BusyError extends FatalError {}
