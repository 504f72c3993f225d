import { randomUUID } from "node:crypto";
import { createWriteStream, rename as renameFile, type Stats, stat, writeFile } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { InvalidKeyError, ObjectNotFoundError } from "./errors.js";
import { assertValidKey, STAGING_PREFIX } from "./keys.js";
import type { ObjectInfo, ObjectStore, PutOptions } from "./store.js";

/** Temporary files start with this; listings skip them, so a crashed write is never seen. */
const TEMP_MARK = ".tmp-";

const isNotFound = (e: unknown) => (e as NodeJS.ErrnoException)?.code === "ENOENT";

/*
 * The callback forms of the calls on every item's path (head, put), as promises: fs/promises
 * captures a failed call's stack a second time (a head of every new blob fails with ENOENT), and
 * its FileHandle-based writeFile takes more turns; together a third of the archive's share of a
 * backup's busy time (the archive was 11–17 % of it).
 */
const writeFileOnce = promisify(writeFile);
const renameOnce = promisify(renameFile);

/** The file's stats, or null when it does not exist; other errors reject. */
function statIfExists(file: string): Promise<Stats | null> {
  return new Promise((resolve, reject) =>
    stat(file, (error, stats) => {
      if (!error) resolve(stats);
      else if (isNotFound(error)) resolve(null);
      else reject(error);
    }),
  );
}

/**
 * Folders this store created or found, so that a write into one of them skips its `mkdir`
 * (a recursive mkdir of an existing folder is a failed mkdir and a stat). A folder removed behind
 * the store's back is made again when a write into it fails. Bounded: forgotten when it fills.
 */
const MAX_KNOWN_FOLDERS = 4096;

/** A folder's entries; none when the folder does not exist (yet). */
async function entriesOf(dir: string): Promise<import("node:fs").Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

/**
 * The archive in a local folder, with the same keys as S3 (a key's segments are folders).
 * Writes go to a temporary file beside the target and are renamed into place, so a reader sees
 * either nothing or the whole object, never a torn one.
 */
export class LocalObjectStore implements ObjectStore {
  readonly root: string;
  readonly location: string;
  private readonly knownFolders = new Set<string>();

  /** @param rootDir folder of the archive; created on the first write when missing. */
  constructor(rootDir: string) {
    this.root = path.resolve(rootDir);
    this.location = this.root;
  }

  /** The file of a key; refuses any key that would resolve outside the root. */
  private fileOf(key: string): string {
    assertValidKey(key);
    if (key.startsWith(TEMP_MARK) || key.includes(`/${TEMP_MARK}`)) {
      throw new InvalidKeyError(
        key,
        `found a segment starting with ${TEMP_MARK} (reserved for temporary files)`,
      );
    }
    // `/` is a separator of path.resolve on every platform; keys hold no `\`, `.` or `..` segments.
    const file = path.resolve(this.root, key);
    if (!file.startsWith(this.root + path.sep))
      throw new InvalidKeyError(key, "found a path outside the archive");
    return file;
  }

  /** Makes the folder unless this store already made or found it. */
  private async makeFolder(dir: string): Promise<void> {
    if (this.knownFolders.has(dir)) return;
    await fs.mkdir(dir, { recursive: true });
    if (this.knownFolders.size >= MAX_KNOWN_FOLDERS) this.knownFolders.clear();
    this.knownFolders.add(dir);
  }

  async put(key: string, body: Buffer | Readable, _opts?: PutOptions): Promise<void> {
    const file = this.fileOf(key);
    const dir = path.dirname(file);
    const temp = path.join(dir, `${TEMP_MARK}${randomUUID()}`);
    try {
      if (Buffer.isBuffer(body)) {
        await this.makeFolder(dir);
        await writeFileOnce(temp, body, { flag: "wx" }).catch(async (error: unknown) => {
          // The folder was known but is gone (removed behind this store's back): make it again.
          if (!isNotFound(error)) throw error;
          this.knownFolders.delete(dir);
          await this.makeFolder(dir);
          await writeFileOnce(temp, body, { flag: "wx" });
        });
      } else {
        // A stream cannot be written twice: its folder is made (or found) first, every time.
        await fs.mkdir(dir, { recursive: true });
        await pipeline(body, createWriteStream(temp, { flags: "wx" }));
      }
      await renameOnce(temp, file);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Readable> {
    const file = this.fileOf(key);
    // Open first so that a missing file is an error of get(), not of the stream later.
    const handle = await fs.open(file, "r").catch((e: unknown) => {
      throw isNotFound(e) ? new ObjectNotFoundError(key, { cause: e }) : e;
    });
    return handle.createReadStream({ autoClose: true }) as unknown as Readable;
  }

  async getRange(key: string, offset: number, length: number): Promise<Readable> {
    const file = this.fileOf(key);
    const handle = await fs.open(file, "r").catch((e: unknown) => {
      throw isNotFound(e) ? new ObjectNotFoundError(key, { cause: e }) : e;
    });
    if (length === 0) {
      await handle.close();
      return Readable.from([]);
    }
    return handle.createReadStream({
      start: offset,
      end: offset + length - 1,
      autoClose: true,
    }) as unknown as Readable;
  }

  async getBytes(key: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.fileOf(key));
    } catch (e) {
      throw isNotFound(e) ? new ObjectNotFoundError(key, { cause: e }) : e;
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    const s = await statIfExists(this.fileOf(key));
    return s?.isFile() ? { size: s.size } : null;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk only the deepest folder that the prefix names completely.
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : "";
    const start = dirKey === "" ? this.root : this.fileOf(dirKey);
    yield* this.walk(start, dirKey === "" ? "" : `${dirKey}/`, prefix);
  }

  private async *walk(dir: string, keyPrefix: string, filter: string): AsyncIterable<ObjectInfo> {
    for (const entry of await entriesOf(dir)) {
      if (entry.name.startsWith(TEMP_MARK)) continue;
      const key = `${keyPrefix}${entry.name}`;
      if (entry.isDirectory()) {
        // Descend only where keys below can still match the prefix.
        const sub = `${key}/`;
        if (sub.startsWith(filter) || filter.startsWith(sub))
          yield* this.walk(path.join(dir, entry.name), sub, filter);
      } else if (entry.isFile() && key.startsWith(filter)) {
        const s = await fs.stat(path.join(dir, entry.name)).catch(() => undefined);
        if (s) yield { key, size: s.size };
      }
    }
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.fileOf(from);
    const target = this.fileOf(to);
    await fs.mkdir(path.dirname(target), { recursive: true });
    try {
      await fs.rename(source, target);
    } catch (e) {
      throw isNotFound(e) ? new ObjectNotFoundError(from, { cause: e }) : e;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.fileOf(key), { force: true });
  }

  /**
   * Removes what interrupted writes left behind: `.tmp-*` files (never listed or read, but they
   * take space) and `staging/` objects of uploads that never got their address. Only while
   * nothing writes to the archive (the local runtime calls it holding its data folder's lock).
   * Returns the keys or file paths removed.
   */
  async removeLeftovers(): Promise<string[]> {
    const removed: string[] = [];
    const sweep = async (dir: string): Promise<void> => {
      for (const entry of await entriesOf(dir)) {
        const file = path.join(dir, entry.name);
        if (entry.name.startsWith(TEMP_MARK)) {
          await fs.rm(file, { recursive: true, force: true });
          removed.push(path.relative(this.root, file));
        } else if (entry.isDirectory()) {
          await sweep(file);
        }
      }
    };
    await sweep(this.root);
    for await (const { key } of this.list(STAGING_PREFIX)) {
      await this.delete(key);
      removed.push(key);
    }
    return removed;
  }
}
