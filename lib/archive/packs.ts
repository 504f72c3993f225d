/**
 * Packs: small item bodies written together, so that the archive pays one PUT per pack instead of
 * one PUT (and one HEAD) per item. A pack (`blobs/packs/mailbox=<m>/<id>.pack`) is the bodies one
 * after the other; its index (`<id>.index.json`, written after the pack) says where each body lies.
 * A catalog line names the pack, offset and length of its body, so reading it back is one ranged
 * GET. Bodies are still content-addressed: a body is identified by its SHA-256, and one the
 * mailbox's packs already hold (or this process stored meanwhile) is not written again.
 *
 * Durability: bodies wait in memory until a catalog part that names them is written;
 * {@link PackWriter.settleFor} writes the packs holding them (and their indexes) first, so a catalog
 * line never names a pack that is not there, and a pack fills over many pages (the unit backup
 * holds its pages' parts back until its pack is full, or for a bounded time). A crash before that loses only bodies no catalog line names yet (the unit's checkpoint
 * has not moved past them, so they are fetched again); a pack without an index is never read as
 * stored data. Format: docs/archive-format.md "Packs".
 */
import { createHash, randomUUID } from "node:crypto";
import { z } from "zod";
import { RetryableError } from "../errors.js";
import type { BlobKind, PackLocation, StoredBlob } from "./blobs.js";
import { BodyEncoder, type BodyEncoding } from "./encoding.js";
import { DamagedArchiveError, ObjectNotFoundError } from "./errors.js";
import { readJsonObject } from "./json-object.js";
import { packIndexKey, packKey, packPrefix } from "./keys.js";
import { listAll, type ObjectStore } from "./store.js";

export interface PackOptions {
  /**
   * Bodies smaller than this are packed, bytes, 0..16 MiB; 0 turns packing off. Default 128 KiB,
   * S3 Standard-IA's minimum billable object size: smaller objects are billed as 128 KiB there.
   */
  thresholdBytes?: number;
  /** A pack is written once it holds this many bytes, 1 MiB..64 MiB. Default 8 MiB. */
  maxPackBytes?: number;
  /**
   * Pack indexes of a mailbox merged into one when more than this many are found, 2..10,000.
   * Default 32: loading a mailbox's index stays a LIST and a few GETs.
   */
  mergeAbove?: number;
  /**
   * Mailbox indexes a process keeps in memory at least, 1..1,000 (the least recently used beyond
   * are dropped, and loaded again when met). Default 10.
   */
  mailboxesKept?: number;
  /**
   * Bodies the kept mailbox indexes may hold before indexes beyond `mailboxesKept` are dropped,
   * 0..10,000,000 (≈ 240 bytes each, with the process-wide lookup's entry). Default 100,000.
   */
  bodiesKept?: number;
  /**
   * Bodies of packs this process wrote that it remembers whatever indexes are dropped, so that a
   * catalog part written later still names their pack, 0..10,000,000 (≈ 200 bytes each).
   * Default 100,000.
   */
  writtenKept?: number;
  /** Compresses a body where it pays (encoding.ts). Default: every body packed as it is. */
  encoder?: BodyEncoder;
  /**
   * Told of a pack index that cannot be read (its bodies are stored again; nothing a catalog line
   * names is lost, since lines name the pack itself). Default: nothing.
   */
  onDamagedIndex?: (error: PackIndexDamageError) => void;
}

export const PACK_DEFAULTS = {
  thresholdBytes: 128 * 1024,
  maxPackBytes: 8 * 1024 * 1024,
  mergeAbove: 32,
  mailboxesKept: 10,
  bodiesKept: 100_000,
  writtenKept: 100_000,
} as const;

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);
const indexEntrySchema = z.looseObject({
  sha256: sha256Schema,
  kind: z.enum(["mime", "export"]),
  pack: z.string().min(1),
  offset: z.number().int().nonnegative(),
  /** Bytes the body takes in the pack (compressed, with `encoding`). */
  length: z.number().int().nonnegative(),
  /** Since version 2: the body's own size (absent: `length`, stored as it is). */
  size: z.number().int().nonnegative().optional(),
  /** Since version 2: `gzip` when the body is stored compressed (absent: as it is). */
  encoding: z.literal("gzip").optional(),
});
export const packIndexSchema = z.looseObject({
  format: z.literal("mailstream.pack-index"),
  /** 1: bodies as they are; 2: an entry may be compressed (`encoding`, `size`). */
  version: z.union([z.literal(1), z.literal(2)]),
  /** The indexes this one merges (absent in a pack's own index). */
  merged: z.array(z.string()).optional(),
  entries: z.array(indexEntrySchema),
});
export type PackIndex = z.infer<typeof packIndexSchema>;
export type PackIndexEntry = z.infer<typeof indexEntrySchema>;

/** The format of pack indexes this code writes (2: entries may be compressed). */
export const PACK_INDEX_VERSION = 2;

/** Where a packed body lies, and how it is stored there. */
export interface PackedBody {
  location: PackLocation;
  /** Set when the body is stored compressed: `location.length` is then the compressed size. */
  encoding?: BodyEncoding;
}

/** A body this process knows to be stored (or pending in one of its open packs). */
interface Known extends PackedBody {
  /** The pack it is in, while that pack is not yet written. */
  pending?: OpenPack;
}

interface OpenPack {
  mailboxId: string;
  id: string;
  key: string;
  chunks: Buffer[];
  size: number;
  entries: PackIndexEntry[];
  /** Set once the pack is sealed: its write. */
  written?: Promise<void>;
  /** Set when its write failed: its bodies are not stored. */
  failed?: boolean;
}

/** A mailbox's known bodies, loaded from its pack indexes once per process (and added to). */
interface MailboxIndex {
  mailboxId: string;
  known: Map<string, Known>;
  loaded: Promise<void>;
}

/**
 * Which kept mailbox indexes know each body (by `kind:sha256`), process-wide: a body its own
 * mailbox has not met is one lookup here, where it was a walk over every kept index (a process
 * running many streams of small mailboxes keeps hundreds of them, and every new body of every
 * unit asked each one, several times). Most bodies are known by one index; the same bytes in
 * several mailboxes are known by each, so a key holds one index or a list of them.
 */
class BodyHolders {
  private readonly holders = new Map<string, MailboxIndex | MailboxIndex[]>();

  /** Records that the index knows the body (no change when it is recorded already). */
  add(key: string, index: MailboxIndex): void {
    const held = this.holders.get(key);
    if (held === undefined) this.holders.set(key, index);
    else if (Array.isArray(held)) {
      if (!held.includes(index)) held.push(index);
    } else if (held !== index) this.holders.set(key, [held, index]);
  }

  /** Records that the index no longer knows the body. */
  remove(key: string, index: MailboxIndex): void {
    const held = this.holders.get(key);
    if (held === index) this.holders.delete(key);
    else if (Array.isArray(held)) {
      const at = held.indexOf(index);
      if (at >= 0) held.splice(at, 1);
      if (held.length === 1) this.holders.set(key, held[0] as MailboxIndex);
      else if (held.length === 0) this.holders.delete(key);
    }
  }

  /** The body as the first of its holders knows it (no list made: this is every new body's lookup). */
  known(key: string): Known | undefined {
    const held = this.holders.get(key);
    if (held === undefined || !Array.isArray(held)) return held?.known.get(key);
    for (const index of held) {
      const known = index.known.get(key);
      if (known) return known;
    }
    return undefined;
  }

  /** Every index recorded as knowing the body. */
  all(key: string): readonly MailboxIndex[] {
    const held = this.holders.get(key);
    return held === undefined ? [] : Array.isArray(held) ? held : [held];
  }
}

/** The pack of a body that lies in one, or a body's refusal when its pack could not be written. */
export class PackWriteError extends RetryableError {}

/** A pack index that is not valid JSON of the pack-index format: its entries cannot be trusted. */
export class PackIndexDamageError extends DamagedArchiveError {
  readonly key: string;
  constructor(key: string, problem: string, options?: { cause?: unknown }) {
    super(`pack index ${key}: ${problem}`, options);
    this.key = key;
  }
}

/** How a body is named among the known ones (and in {@link PackWriter.settleFor}'s answer). */
export const knownKey = (kind: BlobKind, sha256: string) => `${kind}:${sha256}`;

/*
 * Mailbox indexes kept (`mailboxesKept`, `bodiesKept`): about 200 bytes per body, and ≈ 40 more
 * in the process-wide lookup ({@link BodyHolders}), so 12 MB for a mailbox of 50,000 items. A
 * controller works on up to `streams.unitsPerStream` (8) units at a time, plus one starting: 10
 * mailboxes hold them. More are kept while they hold few bodies: a process running many streams
 * of small mailboxes (the local runtime, the benchmark's harness) would otherwise drop them and
 * LIST + GET them again unit after unit.
 *
 * Written bodies remembered (`writtenKept`): a body whose pack is written waits for the catalog
 * part that names it (a unit holds its pages' parts for up to 20 s, and a commit writes them 16
 * at a time). When its mailbox's index was dropped meanwhile (other units' mailboxes coming in),
 * the part could not say where the body lies: the unit paused on a PackWriteError and fetched its
 * pages again (in the harness's many-small N = 64 run, 231 pauses in 160 units).
 */

export class PackWriter {
  readonly thresholdBytes: number;
  private readonly maxPackBytes: number;
  private readonly mergeAbove: number;
  private readonly mailboxesKept: number;
  private readonly bodiesKept: number;
  private readonly writtenKept: number;
  private readonly encoder: BodyEncoder;
  private readonly onDamagedIndex: (error: PackIndexDamageError) => void;
  private readonly mailboxes = new Map<string, MailboxIndex>();
  private readonly open = new Map<string, OpenPack>();
  private readonly writing = new Set<Promise<void>>();
  /** Sealed packs whose write has not ended yet. */
  private readonly sealedInFlight = new Set<OpenPack>();
  /** Bodies of packs this process wrote, most recent last (`writtenKept`). */
  private readonly written = new Map<string, PackedBody>();
  /** The kept indexes that know each body: kept in step with every change of a kept index. */
  private readonly holders = new BodyHolders();

  constructor(
    private readonly store: ObjectStore,
    opts: PackOptions = {},
  ) {
    this.thresholdBytes = clamp(opts.thresholdBytes ?? PACK_DEFAULTS.thresholdBytes, 0, 16 * 1024 * 1024);
    this.maxPackBytes = clamp(opts.maxPackBytes ?? PACK_DEFAULTS.maxPackBytes, 1024 * 1024, 64 * 1024 * 1024);
    this.mergeAbove = clamp(opts.mergeAbove ?? PACK_DEFAULTS.mergeAbove, 2, 10_000);
    this.mailboxesKept = clamp(opts.mailboxesKept ?? PACK_DEFAULTS.mailboxesKept, 1, 1000);
    this.bodiesKept = clamp(opts.bodiesKept ?? PACK_DEFAULTS.bodiesKept, 0, 10_000_000);
    this.writtenKept = clamp(opts.writtenKept ?? PACK_DEFAULTS.writtenKept, 0, 10_000_000);
    this.encoder = opts.encoder ?? new BodyEncoder();
    this.onDamagedIndex = opts.onDamagedIndex ?? (() => {});
  }

  /**
   * True when a body of this size goes into a pack whatever its encoding: below the threshold as
   * it is. (A larger body that compresses below it is packed too, compressed: see the archive's
   * `storeBlob`; {@link holds} tells whether the packs hold a given body.)
   */
  packs(size: number): boolean {
    return size < this.thresholdBytes;
  }

  /**
   * True when the mailbox's packs (or this process's other mailboxes' packs) hold the body, or an
   * open pack of this process does. Loads the mailbox's pack indexes first.
   */
  async holds(mailboxId: string, kind: BlobKind, sha256: string): Promise<boolean> {
    const key = knownKey(kind, sha256);
    const index = this.indexOf(mailboxId);
    await index.loaded;
    return this.find(key, index) !== undefined;
  }

  /** True when this process knows the body to be in a pack (written or still open), without loading. */
  knows(mailboxId: string, kind: BlobKind, sha256: string): boolean {
    const key = knownKey(kind, sha256);
    return this.find(key, this.mailboxes.get(mailboxId)) !== undefined;
  }

  /**
   * Adds a small body to the mailbox's open pack (compressed when that pays), unless the
   * mailbox's packs (or this process) already hold it, in either form. The body is durable once
   * {@link settle} has returned.
   */
  async add(
    mailboxId: string,
    kind: BlobKind,
    body: Buffer,
    /** The body's stored form when the caller already encoded it (else it is encoded here). */
    encodedAlready?: { bytes: Buffer; encoding?: BodyEncoding },
  ): Promise<StoredBlob> {
    const sha256 = createHash("sha256").update(body).digest("hex");
    const key = knownKey(kind, sha256);
    const index = this.indexOf(mailboxId);
    await index.loaded;
    const stored = (known: Known): StoredBlob => {
      this.remember(index, key, known);
      return {
        sha256,
        size: body.length,
        key: known.location.key,
        existed: true,
        pack: known.location,
        ...(known.encoding ? { encoding: known.encoding } : {}),
      };
    };
    const known = this.find(key, index);
    if (known) return stored(known);
    const encoded = encodedAlready ?? (await this.encoder.encode(body));
    // Stored meanwhile by another caller with the same bytes (while the encoding was awaited).
    const meanwhile = this.find(key, index);
    if (meanwhile) return stored(meanwhile);
    let pack = this.open.get(mailboxId);
    if (!pack) {
      const id = `${new Date().toISOString().replace(/[:.]/g, "-")}-${randomUUID()}`;
      pack = { mailboxId, id, key: packKey(mailboxId, id), chunks: [], size: 0, entries: [] };
      this.open.set(mailboxId, pack);
    }
    const encoding = encoded.encoding;
    const location: PackLocation = { key: pack.key, offset: pack.size, length: encoded.bytes.length };
    pack.chunks.push(encoded.bytes);
    pack.size += encoded.bytes.length;
    pack.entries.push({
      sha256,
      kind,
      pack: pack.key,
      offset: location.offset,
      length: location.length,
      size: body.length,
      ...(encoding ? { encoding } : {}),
    });
    this.remember(index, key, { location, pending: pack, ...(encoding ? { encoding } : {}) });
    if (pack.size >= this.maxPackBytes) this.seal(pack);
    return {
      sha256,
      size: body.length,
      key: pack.key,
      existed: false,
      pack: location,
      ...(encoding ? { encoding } : {}),
    };
  }

  /**
   * Where a packed body lies, once it is written (call after {@link settle}); undefined when this
   * process knows no such body (its pack could not be written). Throws {@link PackWriteError}
   * while its pack is still open.
   */
  locate(mailboxId: string, kind: BlobKind, sha256: string): PackedBody | undefined {
    const key = knownKey(kind, sha256);
    const known = this.find(key, this.mailboxes.get(mailboxId));
    if (!known) return undefined;
    if (known.pending)
      throw new PackWriteError(
        `content ${sha256}: expected its pack ${known.pending.key} written, found it still open`,
      );
    return packedBody(known);
  }

  /**
   * Makes the named bodies of a mailbox durable: seals only the packs that hold one of them
   * (other bodies keep filling the mailbox's open pack) and waits for those packs' writes. A body
   * whose pack failed is forgotten, as with {@link settle}. Returns where each named body lies
   * (by `kind:sha256`), or nothing for one whose pack failed or that this process does not know:
   * taken before the wait, so that a mailbox index dropped meanwhile (other mailboxes' bodies
   * coming in) cannot lose them.
   */
  async settleFor(
    mailboxId: string,
    bodies: ReadonlyArray<{ kind: BlobKind; sha256: string }>,
  ): Promise<Map<string, PackedBody>> {
    const packs = new Set<OpenPack>();
    const found: Array<{ key: string; known: Known }> = [];
    for (const b of bodies) {
      const key = knownKey(b.kind, b.sha256);
      const known = this.find(key, this.mailboxes.get(mailboxId));
      if (!known) continue;
      found.push({ key, known });
      if (known.pending) packs.add(known.pending);
    }
    for (const pack of packs) this.seal(pack);
    await Promise.allSettled([...packs].map((p) => p.written));
    const located = new Map<string, PackedBody>();
    for (const { key, known } of found) if (!known.pending?.failed) located.set(key, packedBody(known));
    return located;
  }

  /** Bytes of the mailbox's bodies that are not durable yet (its open pack, and sealed ones in flight). */
  pendingBytes(mailboxId: string): number {
    let bytes = this.open.get(mailboxId)?.size ?? 0;
    for (const pack of this.sealedInFlight) if (pack.mailboxId === mailboxId) bytes += pack.size;
    return bytes;
  }

  /**
   * Writes every open pack and its index and waits for every pack write in flight. A body whose
   * pack failed is forgotten (stored again when met): {@link locate} then refuses it.
   */
  async settle(): Promise<void> {
    for (const pack of [...this.open.values()]) this.seal(pack);
    const writes = [...this.writing];
    await Promise.allSettled(writes);
    for (const w of writes) this.writing.delete(w);
  }

  /** Starts writing a pack (then its index); its bodies count as stored once both are written. */
  private seal(pack: OpenPack): void {
    if (pack.written) return;
    if (this.open.get(pack.mailboxId) === pack) this.open.delete(pack.mailboxId);
    const write = (async () => {
      await this.store.put(pack.key, Buffer.concat(pack.chunks), { contentType: "application/octet-stream" });
      await this.store.put(packIndexKey(pack.mailboxId, pack.id), indexBytes({ entries: pack.entries }), {
        contentType: "application/json",
      });
    })().then(
      () => this.release(pack, true),
      () => this.release(pack, false),
    );
    pack.written = write;
    this.writing.add(write);
    this.sealedInFlight.add(pack);
  }

  /** After a pack's write: its bodies become stored, or are forgotten when it failed. */
  private release(pack: OpenPack, ok: boolean): void {
    pack.chunks = [];
    this.sealedInFlight.delete(pack);
    if (!ok) pack.failed = true;
    // Only the pack's own bodies can name it (in its mailbox's index, or in another mailbox's
    // that met the same bytes meanwhile): look those up instead of walking every known body.
    for (const e of pack.entries) {
      const key = knownKey(e.kind, e.sha256);
      // A copy: forgetting a body changes the holders' list.
      for (const index of [...this.holders.all(key)]) {
        const known = index.known.get(key);
        if (known?.pending !== pack) continue;
        if (ok) index.known.set(key, packedBody(known));
        else this.forget(index, key);
      }
    }
    if (!ok) return;
    for (const e of pack.entries) {
      const key = knownKey(e.kind, e.sha256);
      this.written.delete(key);
      this.written.set(key, {
        location: { key: pack.key, offset: e.offset, length: e.length },
        ...(e.encoding ? { encoding: e.encoding } : {}),
      });
    }
    for (const key of this.written.keys()) {
      if (this.written.size <= this.writtenKept) break;
      this.written.delete(key);
    }
  }

  /**
   * A body the given mailbox index knows (kept even when the index was dropped from the process's
   * list meanwhile), else one another mailbox's index knows: the same bytes are stored once.
   */
  private find(key: string, index: MailboxIndex | undefined): Known | undefined {
    return index?.known.get(key) ?? this.knownElsewhere(key) ?? this.written.get(key);
  }

  /** A body another mailbox's index (of this process) knows. */
  private knownElsewhere(key: string): Known | undefined {
    return this.holders.known(key);
  }

  /** True while the index is the one this process keeps for its mailbox. */
  private isKept(index: MailboxIndex): boolean {
    return this.mailboxes.get(index.mailboxId) === index;
  }

  /**
   * Sets a body of the index, and records the index as its holder while it is kept (an index
   * dropped meanwhile, e.g. while a body was being encoded, is no one's to ask).
   */
  private remember(index: MailboxIndex, key: string, known: Known): void {
    index.known.set(key, known);
    if (this.isKept(index)) this.holders.add(key, index);
  }

  /** Removes a body from the index and from its holders. */
  private forget(index: MailboxIndex, key: string): void {
    index.known.delete(key);
    this.holders.remove(key, index);
  }

  /** Stops keeping an index: none of its bodies is found through it any more. */
  private drop(index: MailboxIndex): void {
    if (!this.isKept(index)) return;
    this.mailboxes.delete(index.mailboxId);
    for (const key of index.known.keys()) this.holders.remove(key, index);
  }

  private indexOf(mailboxId: string): MailboxIndex {
    let index = this.mailboxes.get(mailboxId);
    if (index) {
      // Most recently used last.
      this.mailboxes.delete(mailboxId);
      this.mailboxes.set(mailboxId, index);
      return index;
    }
    const created: MailboxIndex = { mailboxId, known: new Map(), loaded: Promise.resolve() };
    index = created;
    this.mailboxes.set(mailboxId, created);
    created.loaded = this.load(created);
    // A failed load is tried again by the next body of the mailbox.
    created.loaded.catch(() => this.drop(created));
    if (this.mailboxes.size > this.mailboxesKept) {
      let bodies = 0;
      for (const other of this.mailboxes.values()) bodies += other.known.size;
      for (const [id, other] of this.mailboxes) {
        if (this.mailboxes.size <= this.mailboxesKept || bodies <= this.bodiesKept) break;
        // Never the index just made (it is about to be used), nor one with bodies in an open pack.
        if (id === mailboxId || [...other.known.values()].some((k) => k.pending)) continue;
        this.drop(other);
        bodies -= other.known.size;
      }
    }
    return index;
  }

  /**
   * Reads the mailbox's pack indexes into `known` (a LIST and a GET per index); merges them into
   * one when there are more than `mergeAbove`, so that the next load reads one.
   */
  private async load(index: MailboxIndex): Promise<void> {
    const { mailboxId } = index;
    const found = await readMailboxPackIndexes(this.store, mailboxId);
    for (const damaged of found.damaged) this.onDamagedIndex(damaged);
    for (const e of found.entries) {
      const key = knownKey(e.kind, e.sha256);
      if (!index.known.has(key))
        this.remember(index, key, {
          location: { key: e.pack, offset: e.offset, length: e.length },
          ...(e.encoding ? { encoding: e.encoding } : {}),
        });
    }
    if (found.read.length > this.mergeAbove) {
      const name = `merged-${new Date().toISOString().replace(/[:.]/g, "-")}-${randomUUID()}`;
      await this.store.put(
        packIndexKey(mailboxId, name),
        indexBytes({ merged: found.covered, entries: found.entries }),
        { contentType: "application/json" },
      );
    }
  }
}

/** A known body's place, without its pending pack. */
function packedBody(known: PackedBody): PackedBody {
  return { location: known.location, ...(known.encoding ? { encoding: known.encoding } : {}) };
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.floor(n)));
}

function indexBytes(index: Omit<PackIndex, "format" | "version">): Buffer {
  return Buffer.from(
    `${JSON.stringify({ format: "mailstream.pack-index", version: PACK_INDEX_VERSION, ...index })}\n`,
  );
}

/** A mailbox's pack indexes: every body they name, and which index keys they cover. */
export interface MailboxPackIndexes {
  entries: PackIndexEntry[];
  /** Index keys whose entries are in `entries` (directly or through a merged index). */
  covered: string[];
  /** Index objects read. */
  read: string[];
  /** Indexes that could not be read: their bodies count as not stored (they are stored again). */
  damaged: PackIndexDamageError[];
}

/**
 * Reads a mailbox's pack indexes: the newest merged index and every index it does not cover.
 * A pack without an index is not named here: it is never taken for stored data. A damaged index
 * is left out (and named in `damaged`); when that is the newest merged one, the indexes it would
 * have covered are read instead.
 */
export async function readMailboxPackIndexes(
  store: ObjectStore,
  mailboxId: string,
): Promise<MailboxPackIndexes> {
  const keys = await packIndexKeys(store, mailboxId);
  const isMerged = (k: string) => k.slice(k.lastIndexOf("/") + 1).startsWith("merged-");
  const newestMerged = keys.filter(isMerged).at(-1);
  const read: string[] = [];
  const covered = new Set<string>();
  const entries: PackIndexEntry[] = [];
  const damaged: PackIndexDamageError[] = [];
  const take = async (key: string) => {
    const index = await readPackIndexOrDamage(store, key);
    if (index instanceof PackIndexDamageError) {
      damaged.push(index);
      return;
    }
    read.push(key);
    covered.add(key);
    for (const k of index.merged ?? []) covered.add(k);
    entries.push(...index.entries);
  };
  if (newestMerged) await take(newestMerged);
  const rest = keys.filter((k) => !isMerged(k) && !covered.has(k));
  for (const key of rest) await take(key);
  return { entries, covered: [...covered].filter((k) => !isMerged(k)), read, damaged };
}

/** Every pack index key of a mailbox (merged ones and those they cover alike). */
export async function packIndexKeys(store: ObjectStore, mailboxId: string): Promise<string[]> {
  return (await listAll(store, packPrefix(mailboxId)))
    .map((o) => o.key)
    .filter((k) => k.endsWith(".index.json"));
}

/** One pack index, or the damage that keeps it from being read (other failures are thrown). */
export async function readPackIndexOrDamage(
  store: ObjectStore,
  key: string,
): Promise<PackIndex | PackIndexDamageError> {
  try {
    return await readPackIndex(store, key);
  } catch (error) {
    if (error instanceof PackIndexDamageError) return error;
    throw error;
  }
}

/** One pack index, validated: {@link PackIndexDamageError} when damaged, {@link ObjectNotFoundError} when absent. */
export async function readPackIndex(store: ObjectStore, key: string): Promise<PackIndex> {
  const index = await readJsonObject(store, key, {
    schema: packIndexSchema,
    expected: "a mailstream.pack-index of version 1 or 2",
    damaged: (problem, cause) => new PackIndexDamageError(key, problem, { cause }),
  });
  if (!index) throw new ObjectNotFoundError(key);
  return index;
}
