/**
 * JSON shapes of users, folders and messages as Microsoft Graph v1.0 returns them, and the
 * query options that shape them (`$select`, `$expand` of single-value extended properties).
 */
import { isMailFolder, type SimFolder, type SimMessage, type SimUser, type TenantStore } from "../model.js";

/** Parses `$select=a,b` into a set; `undefined` when absent (= default properties). */
export function parseSelect(query: URLSearchParams): Set<string> | undefined {
  const raw = query.get("$select");
  if (!raw) return undefined;
  return new Set(
    raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/**
 * Which property names a parsed `$select` set keeps, decided once per name (a page applies one
 * set to each of its items, whose entities have the same few names).
 */
const keptNames = new WeakMap<Set<string>, { lower: Set<string>; kept: Map<string, boolean> }>();

/** Keeps `id`, OData annotations and the selected properties. */
export function applySelect(
  entity: Record<string, unknown>,
  select: Set<string> | undefined,
): Record<string, unknown> {
  if (!select) return entity;
  let names = keptNames.get(select);
  if (names === undefined) {
    names = { lower: new Set([...select].map((s) => s.toLowerCase())), kept: new Map() };
    keptNames.set(select, names);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(entity)) {
    let kept = names.kept.get(key);
    if (kept === undefined) {
      kept = key === "id" || key.startsWith("@odata.") || names.lower.has(key.toLowerCase());
      names.kept.set(key, kept);
    }
    if (kept) out[key] = entity[key];
  }
  return out;
}

const DEFAULT_USER_PROPERTIES = [
  "businessPhones",
  "displayName",
  "givenName",
  "jobTitle",
  "mail",
  "mobilePhone",
  "officeLocation",
  "preferredLanguage",
  "surname",
  "userPrincipalName",
  "id",
];

/** A deterministic fake SKU id per licence slot, so that `assignedLicenses` has the right length. */
function skuId(index: number): string {
  return `c7df2760-2c81-4ef7-b578-5b5392b${String(index).padStart(5, "0")}`;
}

/** Service plans of a licensed user (ids of Office 365 E3's plans): what `assignedPlans` lists. */
const SERVICE_PLANS = [
  { service: "exchange", servicePlanId: "efb87545-963c-4e0d-99df-69c6916d9eb0" },
  { service: "SharePoint", servicePlanId: "5dbe027f-2339-4123-9542-606e4d348a72" },
  { service: "MicrosoftOffice", servicePlanId: "43de0ff5-c92c-492b-9116-175376d08c38" },
  { service: "TeamspaceAPI", servicePlanId: "57ff2da0-773e-42df-b2af-ffb7a2317929" },
];

/** When the account was created: a fixed day of 2019–2022 derived from its id, so the same on every run. */
export function userCreatedDateTime(user: SimUser): string {
  const day = Number.parseInt(user.id.replace(/-/g, "").slice(0, 8), 16) % (4 * 365);
  return new Date(Date.UTC(2019, 0, 1) + day * 86_400_000 + 9 * 3_600_000)
    .toISOString()
    .replace(".000Z", "Z");
}

export function userJson(user: SimUser, select: Set<string> | undefined): Record<string, unknown> {
  const [givenName = null, ...rest] = user.displayName.split(" ");
  const full: Record<string, unknown> = {
    businessPhones: [],
    displayName: user.displayName,
    givenName,
    jobTitle: null,
    mail: user.mail,
    mobilePhone: null,
    officeLocation: null,
    preferredLanguage: null,
    surname: rest.length > 0 ? rest.join(" ") : null,
    userPrincipalName: user.userPrincipalName,
    id: user.id,
    accountEnabled: user.accountEnabled,
    userType: "Member",
    createdDateTime: userCreatedDateTime(user),
    mailNickname: user.userPrincipalName.split("@")[0] ?? user.userPrincipalName,
    proxyAddresses: user.mail ? [`SMTP:${user.mail}`] : [],
    usageLocation: user.licenseCount > 0 ? "US" : null,
    onPremisesSyncEnabled: null,
    assignedLicenses: Array.from({ length: user.licenseCount }, (_, i) => ({
      disabledPlans: [],
      skuId: skuId(i),
    })),
    assignedPlans:
      user.licenseCount > 0
        ? SERVICE_PLANS.map((p) => ({
            assignedDateTime: userCreatedDateTime(user),
            capabilityStatus: "Enabled",
            ...p,
          }))
        : [],
  };
  if (!select) return Object.fromEntries(DEFAULT_USER_PROPERTIES.map((k) => [k, full[k]]));
  return applySelect(full, select);
}

/** Extended properties the simulator can expand, by normalised id (`long 0xe08`). */
type ExtendedValue = (id: string) => string | undefined;

/** Normalises `Long 0x0E08` → `long 0xe08` for comparison; returns the Graph spelling too (`Long 0xe08`). */
export function normaliseExtendedId(id: string): { key: string; graphId: string } | undefined {
  const match = /^\s*(\w+)\s+0x([0-9a-f]+)\s*$/i.exec(id);
  if (!match) return undefined;
  const [, type = "", hex = ""] = match;
  const tag = Number.parseInt(hex, 16).toString(16);
  const typeName = type.charAt(0).toUpperCase() + type.slice(1).toLowerCase();
  return { key: `${type.toLowerCase()} 0x${tag}`, graphId: `${typeName} 0x${tag}` };
}

/**
 * Reads `$expand=singleValueExtendedProperties($filter=id eq 'Long 0x0E08' or id eq '…')` and
 * returns the property ids asked for; `undefined` when not expanded.
 */
export function parseExtendedExpand(query: URLSearchParams): string[] | undefined {
  const raw = query.get("$expand");
  if (!raw || !/singleValueExtendedProperties/i.test(raw)) return undefined;
  return [...raw.matchAll(/id\s+eq\s+'([^']+)'/gi)].map((m) => m[1] ?? "");
}

function expandedProperties(ids: string[], value: ExtendedValue): Array<{ id: string; value: string }> {
  const out: Array<{ id: string; value: string }> = [];
  for (const id of ids) {
    const norm = normaliseExtendedId(id);
    if (!norm) continue;
    const v = value(norm.key);
    if (v !== undefined) out.push({ id: norm.graphId, value: v });
  }
  return out;
}

export function folderJson(
  store: TenantStore,
  userId: string,
  folder: SimFolder,
  query: URLSearchParams,
  includeHidden: boolean,
): Record<string, unknown> {
  const stats = store.folderStats(userId, folder.id);
  const children = store
    .listChildFolders(userId, folder.id)
    .filter((f) => isMailFolder(f) && (includeHidden || !f.isHidden));
  const entity: Record<string, unknown> = {
    ...(folder.isSearchFolder ? { "@odata.type": "#microsoft.graph.mailSearchFolder" } : {}),
    id: folder.id,
    displayName: folder.displayName,
    parentFolderId: folder.parentFolderId,
    childFolderCount: children.length,
    unreadItemCount: stats.unreadItemCount,
    totalItemCount: stats.totalItemCount,
    isHidden: folder.isHidden,
    ...(folder.isSearchFolder
      ? { isSupported: true, includeNestedFolders: true, sourceFolderIds: [], filterQuery: "" }
      : {}),
  };
  const expand = parseExtendedExpand(query);
  const selected = applySelect(entity, parseSelect(query));
  if (expand) {
    selected.singleValueExtendedProperties = expandedProperties(expand, (key) =>
      key === "long 0xe08" ? String(stats.sizeBytes) : undefined,
    );
  }
  return selected;
}

const MSGFLAG_READ = 0x1;
const MSGFLAG_UNSENT = 0x8;
const MSGFLAG_HASATTACH = 0x10;

function recipient(a: { name: string; address: string }) {
  return { emailAddress: { name: a.name, address: a.address } };
}

/** A message body as Graph gives it: `{contentType, content}`. */
export interface ItemBody {
  contentType: "text" | "html";
  content: string;
}

/** Bodies to add to a message's JSON; absent ones are left out. */
export interface MessageBodies {
  body?: ItemBody;
  uniqueBody?: ItemBody;
}

/** Which bodies an answer with these query options carries: `body` by default, both on `$select`. */
export function bodiesWanted(query: URLSearchParams): { body: boolean; uniqueBody: boolean } {
  const select = parseSelect(query);
  if (!select) return { body: true, uniqueBody: false };
  const lower = new Set([...select].map((s) => s.toLowerCase()));
  return { body: lower.has("body"), uniqueBody: lower.has("uniquebody") };
}

/** The properties every Outlook item starts with (outlookItem), as messages and mailbox items show them. */
export function outlookItemJson(item: {
  changeKey: string;
  id: string;
  createdDateTime: string;
  lastModifiedDateTime: string;
  categories: string[];
}): Record<string, unknown> {
  return {
    "@odata.etag": `W/"${item.changeKey}"`,
    id: item.id,
    createdDateTime: item.createdDateTime,
    lastModifiedDateTime: item.lastModifiedDateTime,
    changeKey: item.changeKey,
    categories: [...item.categories],
  };
}

export function messageJson(
  message: SimMessage,
  query: URLSearchParams,
  bodies: MessageBodies = {},
): Record<string, unknown> {
  const entity: Record<string, unknown> = {
    ...outlookItemJson(message),
    receivedDateTime: message.receivedDateTime,
    sentDateTime: message.sentDateTime,
    hasAttachments: message.hasAttachments,
    internetMessageId: message.internetMessageId,
    subject: message.subject,
    bodyPreview: message.bodyPreview,
    importance: message.importance,
    parentFolderId: message.parentFolderId,
    conversationId: message.conversationId,
    isDeliveryReceiptRequested: false,
    isReadReceiptRequested: false,
    isRead: message.isRead,
    isDraft: message.isDraft,
    inferenceClassification: "focused",
    sender: recipient(message.from),
    from: recipient(message.from),
    toRecipients: message.toRecipients.map(recipient),
    ccRecipients: message.ccRecipients.map(recipient),
    bccRecipients: message.bccRecipients.map(recipient),
    replyTo: [],
    flag: { flagStatus: message.flag.flagStatus },
    ...(bodies.body ? { body: bodies.body } : {}),
    ...(bodies.uniqueBody ? { uniqueBody: bodies.uniqueBody } : {}),
  };
  const selected = applySelect(entity, parseSelect(query));
  const expand = parseExtendedExpand(query);
  if (expand) {
    selected.singleValueExtendedProperties = expandedProperties(expand, (key) => {
      if (key === "long 0xe08" || key === "integer 0xe08") return String(message.size);
      if (key === "integer 0xe07") {
        const flags =
          (message.isRead ? MSGFLAG_READ : 0) |
          (message.isDraft ? MSGFLAG_UNSENT : 0) |
          (message.hasAttachments ? MSGFLAG_HASATTACH : 0);
        return String(flags);
      }
      if (key === "systemtime 0xe06") return message.receivedDateTime;
      if (key === "systemtime 0x39") return message.sentDateTime;
      return undefined;
    });
  }
  return selected;
}

/** Message flags bits used when a restore creates a message (PidTagMessageFlags). */
export const MessageFlags = {
  read: MSGFLAG_READ,
  unsent: MSGFLAG_UNSENT,
  hasAttachment: MSGFLAG_HASATTACH,
} as const;

/** Attachment ids: stable per message and position, opaque like Exchange's. */
export function attachmentId(messageId: string, index: number): string {
  return Buffer.from(`${messageId}\u0000${index}`).toString("base64url");
}
