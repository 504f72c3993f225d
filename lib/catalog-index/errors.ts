import { FatalError } from "../errors.js";

/**
 * A name given on the command line (job, mailbox, folder, message, date) that the archive does
 * not hold. Fatal for the command: nothing sensible can be shown in its place.
 */
export class ArchiveLookupError extends FatalError {}
