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
 * One line of a catalog part (or snapshot) that cannot be read. Carries the object key and the
 * 1-based line number so that an operator can find it; the other lines of the part stay usable.
 */
export class CatalogLineError extends SkipError {
  readonly key: string;
  readonly line: number;
  constructor(key: string, line: number, problem: string) {
    super(`catalog ${key} line ${line}: expected a catalog entry (docs/archive-format.md), ${problem}`);
    this.key = key;
    this.line = line;
  }
}

/** Content read back from the archive does not match its address (damaged or tampered blob). */
export class BlobIntegrityError extends FatalError {}
