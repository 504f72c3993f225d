/**
 * The command line's exit codes (documented in `mailstream --help` and the README). The numbers
 * above 1 follow BSD's sysexits.h, which scripts and service managers already know.
 */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The command ran to its end but reports errors of its own kind (a backup job that failed). */
  failed: 1,
  /** A bad option, argument or combination of them. */
  usage: 64,
  /** Damaged data in the archive: a blob failing its SHA-256, a truncated or altered catalog part, a damaged manifest. */
  damaged: 65,
  /** Not found: no archive there, or no such job, mailbox, folder or message in it. */
  notFound: 66,
  /** A service (S3, DynamoDB, Graph, the sign-in endpoint) did not answer or kept failing. */
  unavailable: 69,
  /** A bug: an error mailstream did not expect (`--debug` prints its stack). */
  internal: 70,
  /** An output file or folder cannot be created (exists, is a folder, no permission, disk full). */
  cannotCreate: 73,
  /** Busy: the data folder is in use by another `mailstream run`. */
  busy: 75,
  /** Access denied: credentials refused (client secret, certificate, AWS keys, bucket policy). */
  denied: 77,
  /** Configuration: a missing or invalid setting (the message names it and its variable). */
  config: 78,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
