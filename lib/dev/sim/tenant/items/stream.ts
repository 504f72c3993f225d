/**
 * The simulator's export stream: what `exportItems` returns (base64) and what an import session
 * takes back. Opaque to clients, like Exchange's FastTransfer stream, which it resembles: a
 * sequence of property values and markers that delimit recipients, attachments and embedded
 * items, so that an imported item equals the exported one in every property.
 *
 * Format version 1, all integers little-endian:
 *
 *   header     "MSFX" (4 bytes), format version (u16, = 1), flags (u16, = 0)
 *   item       StartMessage  property*  recipient*  attachment*  EndMessage
 *   recipient  StartRecip  property*  EndToRecip
 *   attachment NewAttach  property*  [StartEmbed  property*  recipient*  attachment*  EndEmbed]  EndAttach
 *   trailer    CRC-32 (u32) of every byte before it
 *
 * Markers are u32 tags of FastTransfer's values (StartMessage 0x400C0003, EndMessage 0x400D0003,
 * StartRecip 0x40030003, EndToRecip 0x40040003, NewAttach 0x40000003, EndAttach 0x400E0003,
 * StartEmbed 0x40010003, EndEmbed 0x40020003). A property is its u32 tag (id << 16 | type);
 * named properties (id 0x8000) follow the tag with the property set GUID (16 bytes, Windows
 * byte order), a kind byte (0 numeric id: u32; 1 name: u32 byte length + UTF-16LE), then the
 * value: fixed-size types as is (Boolean 2 bytes, time as FILETIME), strings as u32 byte length +
 * UTF-16LE, binaries as u32 length + bytes, multi-valued types as u32 count + values.
 *
 * The first properties of an item are always, in this order: PidTagMessageClass,
 * PidTagCreationTime, PidTagLastModificationTime and the categories (PS_PUBLIC_STRINGS
 * "Keywords"): the store's record of the item. The rest is the item's content, in its order.
 */
import { crc32 } from "node:zlib";
import type {
  ItemAttachment,
  ItemContent,
  LazyBytes,
  PropDef,
  Property,
  PropType,
  PropValue,
} from "../../item-model.js";
import { memoByObject } from "../../memo.js";
import { canonicalTime } from "../time.js";
import { P } from "./properties.js";

export const EXPORT_FORMAT_VERSION = 1;
const MAGIC = Buffer.from("MSFX", "latin1");

const MARKERS = {
  startMessage: 0x400c0003,
  endMessage: 0x400d0003,
  startRecip: 0x40030003,
  endToRecip: 0x40040003,
  newAttach: 0x40000003,
  endAttach: 0x400e0003,
  startEmbed: 0x40010003,
  endEmbed: 0x40020003,
} as const;
const MARKER_VALUES = new Set<number>(Object.values(MARKERS));

const TYPE_CODES: Record<PropType, number> = {
  int16: 0x0002,
  int32: 0x0003,
  float64: 0x0005,
  bool: 0x000b,
  int64: 0x0014,
  string: 0x001f,
  time: 0x0040,
  guid: 0x0048,
  binary: 0x0102,
  strings: 0x101f,
  times: 0x1040,
};
const TYPES_BY_CODE = new Map(Object.entries(TYPE_CODES).map(([type, code]) => [code, type as PropType]));
const NAMED_ID = 0x8000;

/** The store's record of an item: the first four properties of its stream. */
export interface ItemRecord {
  itemClass: string;
  createdDateTime: string;
  lastModifiedDateTime: string;
  categories: string[];
}

/** An item as the stream carries it. */
export interface ExportedItem {
  record: ItemRecord;
  content: ItemContent;
}

/** A stream that is not one this simulator wrote, or was changed after. */
export class CorruptExportDataError extends Error {
  override readonly name = "CorruptExportDataError";
}

// --- time ---

/** 100 ns intervals between 1601-01-01 (FILETIME's epoch) and 1970-01-01. */
const FILETIME_EPOCH_OFFSET = 116_444_736_000_000_000n;

function fileTimeOf(iso: string): bigint {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new RangeError(`export stream: expected an ISO date-time, found '${iso}'`);
  return BigInt(ms) * 10_000n + FILETIME_EPOCH_OFFSET;
}

function isoOf(fileTime: bigint): string {
  return canonicalTime(Number((fileTime - FILETIME_EPOCH_OFFSET) / 10_000n));
}

// --- writing ---

/** Where encoded bytes go: a buffer list, or just a byte count (an item's size without building it). */
interface Sink {
  bytes(b: Buffer): void;
  /** Lazy bytes: written when writing, only counted when counting. */
  lazy(b: LazyBytes): void;
}

// The writer allocates a value's bytes as it goes: small buffers come from Node's pool
// (allocUnsafe, every byte written), and the bytes that repeat (markers, property set GUIDs, named
// tags) are made once. An export of 20 items writes thousands of these.

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** The u32 of each marker, made once (sinks only read what they are given). */
const MARKER_BYTES = new Map<number, Buffer>(Object.values(MARKERS).map((m) => [m, u32(m)]));

function marker(value: number): Buffer {
  return MARKER_BYTES.get(value) as Buffer;
}

const KIND_LID = Buffer.from([0]);
const KIND_NAME = Buffer.from([1]);

function utf16(text: string): Buffer {
  return Buffer.from(text, "utf16le");
}

/** GUID bytes by GUID text: named properties repeat a handful of property sets. */
const guidCache = new Map<string, Buffer>();

function guidBytes(guid: string): Buffer {
  let bytes = guidCache.get(guid);
  if (bytes === undefined) {
    bytes = guidBytesOf(guid);
    if (guidCache.size < 1024) guidCache.set(guid, bytes);
  }
  return bytes;
}

function guidBytesOf(guid: string): Buffer {
  const hex = guid.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new RangeError(`export stream: expected a GUID, found '${guid}'`);
  const b = Buffer.from(hex, "hex");
  // Windows order: the first three groups little-endian.
  return Buffer.concat([
    b.subarray(0, 4).reverse(),
    b.subarray(4, 6).reverse(),
    b.subarray(6, 8).reverse(),
    b.subarray(8),
  ]);
}

function guidText(b: Buffer): string {
  const hex = Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8, 16),
  ]).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A property's tag bytes by its definition (the definitions are shared constants, see properties.ts). */
const tagOf = memoByObject(tagBytes);

function writeTag(sink: Sink, def: PropDef): void {
  sink.bytes(tagOf(def));
}

function tagBytes(def: PropDef): Buffer {
  const id = def.kind === "tag" ? def.id : NAMED_ID;
  const tag = u32(((id << 16) | TYPE_CODES[def.type]) >>> 0);
  if (def.kind === "tag") return Buffer.from(tag);
  if (def.kind === "lid") return Buffer.concat([tag, guidBytes(def.set), KIND_LID, u32(def.lid)]);
  const name = utf16(def.name);
  return Buffer.concat([tag, guidBytes(def.set), KIND_NAME, u32(name.length), name]);
}

function expect<T>(ok: boolean, value: T, def: PropDef, what: string): T {
  if (!ok)
    throw new TypeError(
      `export stream: property ${JSON.stringify(def)} expected ${what}, found ${String(value)}`,
    );
  return value;
}

/** A fixed-size value's bytes (every byte is written by `write`). */
function fixed(size: number, write: (b: Buffer) => void): Buffer {
  const b = Buffer.allocUnsafe(size);
  write(b);
  return b;
}

function writeString(sink: Sink, text: string): void {
  const s = utf16(text);
  sink.bytes(u32(s.length));
  sink.bytes(s);
}

function fileTimeBytes(iso: string): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(fileTimeOf(iso));
  return b;
}

/** Writes a value's bytes (lazy bytes left lazy), straight to the sink: no list of parts per value. */
function writeValue(sink: Sink, def: PropDef, value: PropValue): void {
  const integer = () => expect(Number.isInteger(value), value as number, def, "an integer");
  switch (def.type) {
    case "int16":
      sink.bytes(fixed(2, (b) => b.writeInt16LE(integer())));
      return;
    case "int32":
      sink.bytes(fixed(4, (b) => b.writeInt32LE(integer())));
      return;
    case "int64":
      sink.bytes(fixed(8, (b) => b.writeBigInt64LE(BigInt(integer()))));
      return;
    case "float64":
      sink.bytes(
        fixed(8, (b) => b.writeDoubleLE(expect(typeof value === "number", value as number, def, "a number"))),
      );
      return;
    case "bool":
      sink.bytes(Buffer.from([expect(typeof value === "boolean", value, def, "a boolean") ? 1 : 0, 0]));
      return;
    case "time":
      sink.bytes(fileTimeBytes(expect(typeof value === "string", value as string, def, "a date-time")));
      return;
    case "guid":
      sink.bytes(guidBytes(expect(typeof value === "string", value as string, def, "a GUID")));
      return;
    case "string":
      writeString(sink, expect(typeof value === "string", value as string, def, "a string"));
      return;
    case "binary": {
      if (Buffer.isBuffer(value)) {
        sink.bytes(u32(value.length));
        sink.bytes(value);
        return;
      }
      const lazy = expect(
        typeof value === "object" && value !== null && "size" in value,
        value as LazyBytes,
        def,
        "bytes",
      );
      sink.bytes(u32(lazy.size));
      sink.lazy(lazy);
      return;
    }
    case "strings": {
      const list = expect(Array.isArray(value), value as string[], def, "a list of strings");
      sink.bytes(u32(list.length));
      for (const text of list) writeString(sink, text);
      return;
    }
    case "times": {
      const list = expect(Array.isArray(value), value as string[], def, "a list of date-times");
      sink.bytes(u32(list.length));
      for (const iso of list) sink.bytes(fileTimeBytes(iso));
      return;
    }
  }
}

function writeProps(sink: Sink, props: Property[]): void {
  for (const p of props) {
    writeTag(sink, p.def);
    writeValue(sink, p.def, p.value);
  }
}

function writeBody(sink: Sink, content: ItemContent): void {
  writeProps(sink, content.props);
  for (const recipient of content.recipients) {
    sink.bytes(marker(MARKERS.startRecip));
    writeProps(sink, recipient);
    sink.bytes(marker(MARKERS.endToRecip));
  }
  for (const attachment of content.attachments) {
    sink.bytes(marker(MARKERS.newAttach));
    writeProps(sink, attachment.props);
    if (attachment.embedded) {
      sink.bytes(marker(MARKERS.startEmbed));
      writeBody(sink, attachment.embedded);
      sink.bytes(marker(MARKERS.endEmbed));
    }
    sink.bytes(marker(MARKERS.endAttach));
  }
}

function recordProps(record: ItemRecord): Property[] {
  return [
    { def: P.messageClass, value: record.itemClass },
    { def: P.creationTime, value: record.createdDateTime },
    { def: P.lastModificationTime, value: record.lastModifiedDateTime },
    { def: P.keywords, value: record.categories },
  ];
}

function writeItem(sink: Sink, item: ExportedItem): void {
  sink.bytes(MAGIC);
  const version = Buffer.alloc(4);
  version.writeUInt16LE(EXPORT_FORMAT_VERSION, 0);
  sink.bytes(version);
  sink.bytes(marker(MARKERS.startMessage));
  writeProps(sink, recordProps(item.record));
  writeBody(sink, item.content);
  sink.bytes(marker(MARKERS.endMessage));
}

/** The stream of an item. */
export function encodeItem(item: ExportedItem): Buffer {
  const parts: Buffer[] = [];
  writeItem({ bytes: (b) => parts.push(b), lazy: (l) => parts.push(l.bytes()) }, item);
  // One copy: the CRC taken part by part, the trailer concatenated with the parts.
  let crc = 0;
  for (const part of parts) crc = crc32(part, crc);
  parts.push(u32(crc));
  return Buffer.concat(parts);
}

/**
 * The stream of an item in parts, lazy values left as they are (not produced), without the
 * trailer: for writing or hashing a stream whose large values are read from elsewhere. The
 * trailer is {@link trailerOf} the CRC-32 of all parts' bytes.
 */
export function encodeItemParts(item: ExportedItem): Array<Buffer | LazyBytes> {
  const parts: Array<Buffer | LazyBytes> = [];
  writeItem({ bytes: (b) => parts.push(b), lazy: (l) => parts.push(l) }, item);
  return parts;
}

export function trailerOf(crc: number): Buffer {
  return u32(crc);
}

/** Length in bytes of {@link encodeItem}'s result, without producing lazy bytes. */
export function encodedSize(item: ExportedItem): number {
  let size = 4; // the CRC
  writeItem({ bytes: (b) => (size += b.length), lazy: (l) => (size += l.size) }, item);
  return size;
}

// --- reading ---

class Reader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  get done(): boolean {
    return this.offset >= this.data.length;
  }

  take(n: number): Buffer {
    if (n < 0 || this.offset + n > this.data.length) {
      throw new CorruptExportDataError(
        `export stream: expected ${n} more bytes at offset ${this.offset}, found the end`,
      );
    }
    const out = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  u32(): number {
    return this.take(4).readUInt32LE(0);
  }

  peekU32(): number {
    if (this.offset + 4 > this.data.length)
      throw new CorruptExportDataError("export stream: ends inside an item");
    return this.data.readUInt32LE(this.offset);
  }

  utf16(): string {
    const length = this.u32();
    if (length % 2 !== 0)
      throw new CorruptExportDataError(`export stream: odd string length ${length} at ${this.offset}`);
    return this.take(length).toString("utf16le");
  }
}

function readDef(r: Reader, tag: number): PropDef {
  const type = TYPES_BY_CODE.get(tag & 0xffff);
  const id = tag >>> 16;
  if (!type)
    throw new CorruptExportDataError(`export stream: unknown property type 0x${(tag & 0xffff).toString(16)}`);
  if (id < NAMED_ID) return { kind: "tag", id, type };
  const set = guidText(r.take(16));
  const kind = r.take(1)[0];
  if (kind === 0) return { kind: "lid", set, lid: r.u32(), type };
  if (kind === 1) return { kind: "name", set, name: r.utf16(), type };
  throw new CorruptExportDataError(`export stream: unknown named-property kind ${kind}`);
}

function readValue(r: Reader, type: PropType): PropValue {
  switch (type) {
    case "int16":
      return r.take(2).readInt16LE(0);
    case "int32":
      return r.take(4).readInt32LE(0);
    case "int64":
      return Number(r.take(8).readBigInt64LE(0));
    case "float64":
      return r.take(8).readDoubleLE(0);
    case "bool":
      return r.take(2)[0] === 1;
    case "time":
      return isoOf(r.take(8).readBigUInt64LE(0));
    case "guid":
      return guidText(r.take(16));
    case "string":
      return r.utf16();
    case "binary":
      return Buffer.from(r.take(r.u32()));
    case "strings":
      return Array.from({ length: r.u32() }, () => r.utf16());
    case "times":
      return Array.from({ length: r.u32() }, () => isoOf(r.take(8).readBigUInt64LE(0)));
  }
}

/** Properties up to the next marker. */
function readProps(r: Reader): Property[] {
  const props: Property[] = [];
  while (!MARKER_VALUES.has(r.peekU32())) {
    const def = readDef(r, r.u32());
    props.push({ def, value: readValue(r, def.type) });
  }
  return props;
}

function expectMarker(r: Reader, marker: number, where: string): void {
  const found = r.u32();
  if (found !== marker) {
    throw new CorruptExportDataError(
      `export stream: expected marker 0x${marker.toString(16)} ${where}, found 0x${found.toString(16)}`,
    );
  }
}

function readBody(r: Reader, end: number): ItemContent {
  const content: ItemContent = { props: readProps(r), recipients: [], attachments: [] };
  while (r.peekU32() === MARKERS.startRecip) {
    r.u32();
    content.recipients.push(readProps(r));
    expectMarker(r, MARKERS.endToRecip, "after a recipient");
  }
  while (r.peekU32() === MARKERS.newAttach) {
    r.u32();
    const attachment: ItemAttachment = { props: readProps(r) };
    if (r.peekU32() === MARKERS.startEmbed) {
      r.u32();
      attachment.embedded = readBody(r, MARKERS.endEmbed);
    }
    expectMarker(r, MARKERS.endAttach, "after an attachment");
    content.attachments.push(attachment);
  }
  expectMarker(r, end, "at the end of an item");
  return content;
}

function sameDef(a: PropDef, b: PropDef): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Reads a stream {@link encodeItem} wrote; throws {@link CorruptExportDataError} on anything else. */
export function decodeItem(data: Buffer): ExportedItem {
  if (data.length < 16 || !data.subarray(0, 4).equals(MAGIC)) {
    throw new CorruptExportDataError("export stream: expected the MSFX header, found other data");
  }
  const version = data.readUInt16LE(4);
  if (version !== EXPORT_FORMAT_VERSION) {
    throw new CorruptExportDataError(
      `export stream: expected format version ${EXPORT_FORMAT_VERSION}, found ${version}`,
    );
  }
  const body = data.subarray(0, data.length - 4);
  if (crc32(body) !== data.readUInt32LE(data.length - 4)) {
    throw new CorruptExportDataError("export stream: the checksum does not match: the data was changed");
  }
  const r = new Reader(body);
  r.take(8);
  expectMarker(r, MARKERS.startMessage, "at the start");
  const content = readBody(r, MARKERS.endMessage);
  if (!r.done)
    throw new CorruptExportDataError("export stream: expected the end after EndMessage, found more");
  const [cls, created, modified, keywords, ...rest] = content.props;
  const expected = recordProps({
    itemClass: "",
    createdDateTime: "",
    lastModifiedDateTime: "",
    categories: [],
  });
  const head = [cls, created, modified, keywords];
  if (head.some((p, i) => !p || !sameDef(p.def, (expected[i] as Property).def))) {
    throw new CorruptExportDataError(
      "export stream: expected the message class, creation time, modification time and categories first",
    );
  }
  return {
    record: {
      itemClass: cls?.value as string,
      createdDateTime: created?.value as string,
      lastModifiedDateTime: modified?.value as string,
      categories: keywords?.value as string[],
    },
    content: { ...content, props: rest },
  };
}
