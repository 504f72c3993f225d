import { SkipError } from "../../../errors.js";

/**
 * A store operation named a user, mailbox, folder or message that the tenant does not hold.
 * The server maps it to Graph's 404 answers; `what` says which kind of object was missing.
 */
export class TenantObjectNotFoundError extends SkipError {
  readonly what: "user" | "mailbox" | "folder" | "message";
  readonly key: string;
  constructor(what: "user" | "mailbox" | "folder" | "message", key: string, context: string) {
    super(`${context}: expected an existing ${what}, found no ${what} '${key}'`);
    this.what = what;
    this.key = key;
  }
}
