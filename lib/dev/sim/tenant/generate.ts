/**
 * Fills an {@link InMemoryTenantStore} with a realistic tenant: accounts of every kind, folder
 * trees with awkward names, messages with realistic MIME, and (items/generate-items.ts)
 * calendars, contacts, tasks, notes and in-place archives. Deterministic: the same spec gives
 * the same ids and byte-identical MIME on every run and machine.
 */
import type { EmailAddress, MessageProps, SimUser, UserPurpose } from "../model.js";
import {
  EXTERNAL_DOMAINS,
  FIRST_NAMES,
  FOLDER_NAMES,
  GROUPS,
  JAPANESE_NAMES,
  LAST_NAMES,
} from "./content.js";
import { guidFor } from "./ids.js";
import { addOtherKinds } from "./items/generate-items.js";
import { composeMessage, type MessageAuthoring } from "./message-factory.js";
import { Random, seedFrom } from "./random.js";
import { InMemoryTenantStore } from "./store.js";

export type TenantShape = "uniform" | "skewed" | "giant" | "many-small" | "demo";

export interface TenantSpec {
  /** Seed of every random choice; the same spec always yields the same tenant. */
  seed: number;
  /** Directory tenant id. Default: a GUID derived from the seed. */
  tenantId?: string;
  /** Mail domain of the tenant's accounts. Default "contoso.test". */
  domain?: string;
  /** How messages are spread over mailboxes (see {@link TENANT_SHAPES}). */
  shape: TenantShape;
  /** Accounts with a mailbox (users, shared mailboxes, a room); at least 1. */
  mailboxes: number;
  /** Messages spread over all mailboxes (before `largeMessages`); at least 0. */
  totalMessages: number;
  /** Fraction (0–1) of the mailboxes that are shared mailboxes (no licence). Default 0.1. */
  sharedFraction?: number;
  /** Accounts without a mailbox (unlicensed), as a fraction (0–1) of `mailboxes`. Default 0.1. */
  unlicensedFraction?: number;
  /**
   * Specific big messages added to a mailbox's inbox (default mailbox index 0), produced lazily
   * (never held in memory). `bytes`: exact MIME size, at least 4096.
   */
  largeMessages?: Array<{ bytes: number; mailbox?: number }>;
  /** Fraction (0–1) of generated messages that are large (1.2–4 MiB, produced lazily). Default 0.002. */
  largeFraction?: number;
  /** Upper bound of user-created folders per mailbox (the giant mailbox gets 4×). Default 16. */
  maxUserFolders?: number;
  /**
   * Multiplies the calendar, contact, task and note items of each mailbox (about 0.1 per message,
   * at least a few); 0 = mail only, without archives. Bounds ≥ 0. Default 1.
   */
  itemScale?: number;
  /** Fraction (0–1) of user mailboxes with an in-place archive. Default 0.35. */
  archiveFraction?: number;
}

/**
 * Presets. `demo` is what `npm start` uses: small, mixed, generated in a second or two.
 * uniform: equal mailboxes; skewed: Zipf-like mailbox sizes; giant: one mailbox holds ~40% of
 * the items over 4 × maxUserFolders (64) user folders; many-small: thousands of tiny mailboxes with few folders.
 */
export const TENANT_SHAPES: Record<TenantShape, TenantSpec> = {
  demo: {
    seed: 20260101,
    shape: "demo",
    mailboxes: 12,
    totalMessages: 1500,
    sharedFraction: 0.17,
    unlicensedFraction: 0.25,
    largeMessages: [{ bytes: 3 * 1024 * 1024 + 12345, mailbox: 0 }],
  },
  uniform: { seed: 1, shape: "uniform", mailboxes: 20, totalMessages: 5000 },
  skewed: { seed: 2, shape: "skewed", mailboxes: 40, totalMessages: 8000 },
  giant: { seed: 3, shape: "giant", mailboxes: 10, totalMessages: 12000 },
  "many-small": { seed: 4, shape: "many-small", mailboxes: 2000, totalMessages: 6000, largeFraction: 0 },
};

interface Account {
  user: SimUser;
  address: EmailAddress;
}

const TIME_ZONES = [
  "UTC",
  "W. Europe Standard Time",
  "Pacific Standard Time",
  "Tokyo Standard Time",
  "India Standard Time",
];
const SHARED_NAMES = [
  "Support",
  "Info",
  "Sales Team",
  "Accounts Payable",
  "Reception",
  "Recruiting",
  "Press",
  "Facilities",
];
const WELL_KNOWN: Array<{ wellKnownName: string; displayName: string; weight: number }> = [
  { wellKnownName: "inbox", displayName: "Inbox", weight: 40 },
  { wellKnownName: "sentitems", displayName: "Sent Items", weight: 18 },
  { wellKnownName: "drafts", displayName: "Drafts", weight: 1 },
  { wellKnownName: "deleteditems", displayName: "Deleted Items", weight: 4 },
  { wellKnownName: "junkemail", displayName: "Junk Email", weight: 2 },
  { wellKnownName: "archive", displayName: "Archive", weight: 6 },
];
/** Share of a mailbox's messages in user folders (split evenly) and in the hidden folder. */
const USER_FOLDERS_WEIGHT = 27;
const HIDDEN_FOLDER_WEIGHT = 2;
/** Messages are dated between these instants. */
const EARLIEST = Date.parse("2021-01-01T00:00:00Z");
const LATEST = Date.parse("2025-12-31T00:00:00Z");

function asciiLocal(text: string): string {
  return text
    .normalize("NFD")
    .replace(/[^A-Za-z0-9]/g, "")
    .toLowerCase();
}

/** Splits `total` into integer parts proportional to `weights` (largest remainder), summing exactly to `total`. */
export function apportion(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map(() => 0);
  const exact = weights.map((w) => (w / sum) * total);
  const parts = exact.map(Math.floor);
  let left = total - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    parts[i] = (parts[i] as number) + 1;
    left--;
  }
  return parts;
}

function validate(spec: TenantSpec): void {
  const bad = (field: string, expected: string, found: unknown) => {
    throw new RangeError(`TenantSpec.${field}: expected ${expected}, found ${JSON.stringify(found)}`);
  };
  if (!(spec.shape in TENANT_SHAPES))
    bad("shape", `one of ${Object.keys(TENANT_SHAPES).join(", ")}`, spec.shape);
  if (!Number.isInteger(spec.mailboxes) || spec.mailboxes < 1)
    bad("mailboxes", "an integer ≥ 1", spec.mailboxes);
  if (!Number.isInteger(spec.totalMessages) || spec.totalMessages < 0)
    bad("totalMessages", "an integer ≥ 0", spec.totalMessages);
  if (spec.itemScale !== undefined && !(spec.itemScale >= 0))
    bad("itemScale", "a number ≥ 0", spec.itemScale);
  for (const field of ["sharedFraction", "unlicensedFraction", "largeFraction", "archiveFraction"] as const) {
    const v = spec[field];
    if (v !== undefined && !(v >= 0 && v <= 1)) bad(field, "a number in [0, 1]", v);
  }
  for (const large of spec.largeMessages ?? []) {
    if (!Number.isInteger(large.bytes) || large.bytes < 4096)
      bad("largeMessages[].bytes", "an integer ≥ 4096", large.bytes);
    if (large.mailbox !== undefined && !(large.mailbox >= 0 && large.mailbox < spec.mailboxes))
      bad("largeMessages[].mailbox", `an index below ${spec.mailboxes}`, large.mailbox);
  }
}

/**
 * The accounts of the tenant: mailbox owners first (index = mailbox index), then accounts without
 * mailbox (unlicensed). Among the owners: licensed users (every 7th with a Japanese display name),
 * one disabled but still licensed user with its mailbox (index 1, from 3 mailboxes on: a
 * departed employee), shared mailboxes (disabled, no licence) and one room (from 5 mailboxes on).
 */
function createAccounts(spec: TenantSpec, tenantId: string, domain: string, rng: Random): Account[] {
  const n = spec.mailboxes;
  const shared = Math.min(n - 1, Math.round(n * (spec.sharedFraction ?? 0.1)));
  const rooms = n >= 5 ? 1 : 0;
  const disabledIndex = n >= 3 ? 1 : -1;
  const unlicensed = Math.round(n * (spec.unlicensedFraction ?? 0.1));
  const usedLocals = new Set<string>();
  const uniqueLocal = (base: string) => {
    let local = base || "user";
    for (let k = 2; usedLocals.has(local); k++) local = `${base}${k}`;
    usedLocals.add(local);
    return local;
  };
  const accounts: Account[] = [];
  const total = n + unlicensed;
  for (let i = 0; i < total; i++) {
    const hasMailbox = i < n;
    const isRoom = hasMailbox && i >= n - rooms;
    const isShared = hasMailbox && !isRoom && i >= n - rooms - shared;
    let displayName: string;
    let local: string;
    let purpose: UserPurpose = "user";
    if (isRoom) {
      displayName = `Conference Room ${rng.pick(LAST_NAMES)}`;
      local = uniqueLocal(`room.${asciiLocal(displayName.slice(16))}`);
      purpose = "room";
    } else if (isShared) {
      displayName = SHARED_NAMES[(i - (n - rooms - shared)) % SHARED_NAMES.length] as string;
      local = uniqueLocal(asciiLocal(displayName));
      purpose = "shared";
    } else if (i % 7 === 4) {
      displayName = rng.pick(JAPANESE_NAMES);
      local = uniqueLocal(`user${i}`);
    } else {
      const first = rng.pick(FIRST_NAMES);
      const last = rng.pick(LAST_NAMES);
      displayName = `${first} ${last}`;
      local = uniqueLocal(`${asciiLocal(first)}.${asciiLocal(last)}`);
    }
    const upn = `${local}@${domain}`;
    const groups =
      purpose === "user" ? ["All Staff", ...rng.shuffle(GROUPS.slice(1)).slice(0, rng.int(0, 2))] : [];
    const user: SimUser = {
      id: guidFor(tenantId, `user-${i}`),
      userPrincipalName: upn,
      displayName,
      mail: upn,
      accountEnabled: i !== disabledIndex && !isShared && !isRoom,
      licenseCount: purpose === "user" && hasMailbox ? rng.int(1, 2) : 0,
      mailbox: hasMailbox ? { purpose, timeZone: rng.pick(TIME_ZONES) } : null,
      groups,
    };
    accounts.push({ user, address: { name: displayName, address: upn } });
  }
  return accounts;
}

function mailboxWeights(spec: TenantSpec, accounts: Account[], rng: Random): number[] {
  const n = spec.mailboxes;
  const owners = accounts.slice(0, n);
  const base = (() => {
    switch (spec.shape) {
      case "uniform":
      case "many-small":
        return owners.map(() => 1);
      case "giant": {
        if (n === 1) return [1];
        // One mailbox holds ~40% of the items; the others share the rest.
        return owners.map((_, i) => (i === 0 ? (0.4 * (n - 1)) / 0.6 : 1));
      }
      case "skewed":
      case "demo": {
        const ranks = rng.shuffle(owners.map((_, i) => i));
        return ranks.map((rank) => 1 / (rank + 1) ** 0.9);
      }
    }
  })();
  // Rooms receive little mail.
  return base.map((w, i) => (owners[i]?.user.mailbox?.purpose === "room" ? w * 0.1 : w));
}

/** Creates the folder tree of one mailbox; returns the folders messages go into, with weights. */
function createFolders(
  store: InMemoryTenantStore,
  account: Account,
  userFolderCount: number,
  rng: Random,
): { targets: Array<{ id: string; weight: number; wellKnownName?: string }> } {
  const userId = account.user.id;
  const root = store.rootFolderId(userId);
  const targets: Array<{ id: string; weight: number; wellKnownName?: string }> = [];
  const byWellKnown = new Map<string, string>();
  for (const wk of WELL_KNOWN) {
    const folder = store.addFolder(userId, root, {
      displayName: wk.displayName,
      isHidden: false,
      isSearchFolder: false,
      wellKnownName: wk.wellKnownName,
    });
    byWellKnown.set(wk.wellKnownName, folder.id);
    targets.push({ id: folder.id, weight: wk.weight, wellKnownName: wk.wellKnownName });
  }
  store.addFolder(userId, root, {
    displayName: "Quick Step Settings",
    isHidden: true,
    isSearchFolder: false,
  });
  const hidden = store.addFolder(userId, root, {
    displayName: "Hidden Project Files",
    isHidden: true,
    isSearchFolder: false,
  });
  targets.push({ id: hidden.id, weight: HIDDEN_FOLDER_WEIGHT });
  store.addFolder(userId, root, { displayName: "Unread Mail", isHidden: false, isSearchFolder: true });

  // Nested user folders, at most 4 levels below the root, sibling names unique (case-insensitive).
  const parents: Array<{ id: string; depth: number }> = [
    { id: root, depth: 0 },
    { id: byWellKnown.get("inbox") as string, depth: 1 },
    { id: byWellKnown.get("archive") as string, depth: 1 },
  ];
  const siblingNames = new Map<string, Set<string>>();
  const names = rng.shuffle(FOLDER_NAMES);
  for (let k = 0; k < userFolderCount; k++) {
    const parent = rng.pick(parents);
    const taken = siblingNames.get(parent.id) ?? new Set<string>();
    siblingNames.set(parent.id, taken);
    const base = names[k % names.length] as string;
    let name = base;
    for (let suffix = 2; taken.has(name.toLowerCase()); suffix++) name = `${base} ${suffix}`;
    taken.add(name.toLowerCase());
    const folder = store.addFolder(userId, parent.id, {
      displayName: name,
      isHidden: false,
      isSearchFolder: false,
    });
    if (parent.depth + 1 < 4) parents.push({ id: folder.id, depth: parent.depth + 1 });
    targets.push({ id: folder.id, weight: USER_FOLDERS_WEIGHT / userFolderCount });
  }
  return { targets };
}

function randomProps(folder: string | undefined, rng: Random): MessageProps {
  const flagRoll = rng.next();
  return {
    isRead:
      folder === "sentitems" || folder === "drafts" ? true : rng.chance(folder === "inbox" ? 0.6 : 0.85),
    flag: { flagStatus: flagRoll < 0.08 ? "flagged" : flagRoll < 0.12 ? "complete" : "notFlagged" },
    categories: rng.chance(0.1)
      ? rng.shuffle(["Red category", "Blue category", "Project X", "Follow up"]).slice(0, rng.int(1, 2))
      : [],
    importance: rng.chance(0.05) ? "high" : rng.chance(0.03) ? "low" : "normal",
  };
}

/** Builds a tenant from a spec. Same spec, same tenant: ids, MIME bytes and props. */
export function generateTenant(spec: TenantSpec): InMemoryTenantStore {
  validate(spec);
  const tenantId = spec.tenantId ?? guidFor("tenant", spec.seed);
  const domain = spec.domain ?? "contoso.test";
  const store = new InMemoryTenantStore({ tenantId });
  const rng = new Random(seedFrom("tenant", spec.seed));
  const accounts = createAccounts(spec, tenantId, domain, rng.fork("accounts"));
  for (const account of accounts) store.addUser(account.user);

  const counts = apportion(spec.totalMessages, mailboxWeights(spec, accounts, rng.fork("weights")));
  const people = accounts.filter((a) => a.user.mailbox?.purpose === "user").map((a) => a.address);
  const maxFolders = spec.maxUserFolders ?? 16;
  for (let i = 0; i < spec.mailboxes; i++) {
    const account = accounts[i] as Account;
    const mbRng = new Random(seedFrom("mailbox", spec.seed, i));
    const count = counts[i] ?? 0;
    const isGiant = spec.shape === "giant" && i === 0;
    const userFolderCount =
      spec.shape === "many-small"
        ? mbRng.int(0, 2)
        : isGiant
          ? maxFolders * 4
          : Math.min(maxFolders, 1 + Math.floor(Math.log2(1 + count)));
    const { targets } = createFolders(store, account, userFolderCount, mbRng.fork("folders"));
    const placement = apportion(
      count,
      targets.map((t) => t.weight),
    );
    // Dates ascending, so ids and change sequences follow arrival order as in a real mailbox.
    const dates = Array.from(
      { length: count },
      () => EARLIEST + Math.floor((mbRng.next() * (LATEST - EARLIEST)) / 1000) * 1000,
    ).sort((a, b) => a - b);
    const folderOfMessage = mbRng.shuffle(placement.flatMap((c, t) => Array.from({ length: c }, () => t)));
    const authoring: MessageAuthoring = {
      owner: account.address,
      colleagues: people.filter((p) => p.address !== account.address.address),
      externalDomains: EXTERNAL_DOMAINS,
      largeFraction: spec.largeFraction ?? 0.002,
      threads: [],
    };
    for (let k = 0; k < count; k++) {
      const target = targets[folderOfMessage[k] as number] as (typeof targets)[number];
      const msgRng = new Random(seedFrom("message", spec.seed, i, k));
      const composed = composeMessage(authoring, target.wellKnownName, new Date(dates[k] as number), msgRng);
      store.addMessage(account.user.id, target.id, {
        ...composed,
        ...randomProps(target.wellKnownName, msgRng),
      });
    }
    for (const [j, large] of (spec.largeMessages ?? []).entries()) {
      if ((large.mailbox ?? 0) !== i) continue;
      const msgRng = new Random(seedFrom("large", spec.seed, i, j));
      const composed = composeMessage(
        authoring,
        "inbox",
        new Date(LATEST - j * 3_600_000),
        msgRng,
        large.bytes,
      );
      store.addMessage(account.user.id, "inbox", { ...composed, ...randomProps("inbox", msgRng) });
    }
  }
  // Everything besides mail comes after it, from random streams of its own.
  addOtherKinds(
    store,
    accounts.slice(0, spec.mailboxes).map((account, index) => ({
      index,
      user: account.user,
      address: account.address,
      messages: counts[index] ?? 0,
    })),
    people,
    EXTERNAL_DOMAINS,
    spec.seed,
    { scale: spec.itemScale ?? 1, archiveFraction: spec.archiveFraction ?? 0.35 },
  );
  return store;
}
