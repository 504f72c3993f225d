import { FatalError, SkipError } from "../errors.js";

/** The archive holds no object under the key (a blob, catalog part or report that was never written). */
export class ObjectNotFoundError extends SkipError {
  readonly key: string;
  constructor(key: string, options?: { cause?: unknown }) {
    super(`archive object ${key}: expected it to exist, found none`, options);
    this.key = key;
  }
}

/** A key that does not fit the archive's layout (empty segment, `..`, backslash, …). */
export class InvalidKeyError extends FatalError {
  readonly key: string;
  constructor(key: string, reason: string) {
    super(`archive key ${JSON.stringify(key)}: expected /-separated segments without . or .., ${reason}`);
    this.key = key;
  }
}

/**
 * Damage found in a catalog object (part, folders record, snapshot): recorded and skipped, so
 * that the rest of the catalog stays usable, and reported to the user (exit code "damaged").
 */
export abstract class CatalogDamageError extends SkipError {
  /** The damaged object's key. */
  abstract readonly key: string;
}

/**
 * One line of a catalog part (or snapshot) that cannot be read. Carries the object key and the
 * 1-based line number so that an operator can find it; the other lines of the part stay usable.
 */
export class CatalogLineError extends CatalogDamageError {
  readonly key: string;
  readonly line: number;
  constructor(key: string, line: number, problem: string) {
    super(`catalog ${key} line ${line}: expected a catalog entry (docs/archive-format.md), ${problem}`);
    this.key = key;
    this.line = line;
  }
}

/**
 * A catalog part as a whole differs from what its header recorded when it was written: lines
 * lost (truncated) or added, or content altered. The lines that still parse are used; those
 * lost cannot be, so the view may lack messages and the part is reported.
 */
export class CatalogPartError extends CatalogDamageError {
  readonly key: string;
  constructor(key: string, problem: string) {
    super(`catalog ${key}: ${problem}`);
    this.key = key;
  }
}

/**
 * An archive object that exists but cannot be trusted: a blob whose bytes do not hash to its
 * address, a manifest or report that is not what was written. Never passed on as good data.
 */
export class DamagedArchiveError extends FatalError {}

/** Content read back from the archive does not match its address (damaged or tampered blob). */
export class BlobIntegrityError extends DamagedArchiveError {}
