import { FatalError } from "../errors.js";

/** An output the command was asked to create cannot be: it exists, is a folder, or is not writable. */
export class OutputError extends FatalError {}
