/**
 * Mailbox discovery: which users of the tenant have a mailbox mailstream may back up.
 *
 * The directory has no "has a mailbox" flag, so every selected user with a mail address is
 * probed (`mailboxSettings`); the probe also tells the mailbox's purpose (user, shared, room…).
 */
import PQueue from "p-queue";
import { batchGetAcross, batchSizeOf } from "./batch.js";
import type { GraphGateway } from "./client.js";
import { AccessDeniedError, GraphSkipError, MailboxNotFoundError } from "./errors.js";

export interface MailboxSelection {
  /** Rules: an address, `@domain`, or `group:<display name>`. Empty or absent: every mailbox. */
  include?: string[];
  /** Rules as for `include`; a mailbox matching any is left out. Default none. */
  exclude?: string[];
  /**
   * Mailbox probes in flight at once (each to a different mailbox, so Graph's per-mailbox limits
   * are not touched; the app-wide limit is 130,000 requests per 10 s). Bounds 1–64. Default 32.
   */
  probeConcurrency?: number;
  /**
   * Probes per `$batch` request at most, each of a different mailbox and counted against its own
   * limits (Graph evaluates every inner request against its own mailbox's); 1 sends each probe as
   * a request of its own. Batched, ⌈probeConcurrency / 4⌉ batches are in flight at once (Outlook
   * serves 4 inner requests of a batch at a time), and a page of few users is spread over them
   * (at least 4 to a batch). Bounds 1–20. Default 20.
   */
  probeBatchSize?: number;
}

export interface DiscoveredMailbox {
  userId: string;
  /** Primary SMTP address (lower case). */
  address: string;
  displayName: string;
  /** `mailboxSettings.userPurpose`: user, shared, room, equipment, linked, others. */
  purpose: string;
  /** Group display names; only present when group rules were given. */
  groups?: string[];
}

export interface SkippedUser {
  userId: string;
  upn: string;
  /** Why: the Graph code of the probe's answer, or the rule that left the user out. */
  reason: string;
}

export interface DiscoveryResult {
  mailboxes: DiscoveredMailbox[];
  skipped: SkippedUser[];
}

interface DirectoryUser {
  id: string;
  userPrincipalName: string;
  displayName: string | null;
  mail: string | null;
}

type Rule =
  | { kind: "address"; value: string }
  | { kind: "domain"; value: string }
  | { kind: "group"; value: string };

/** Parses one include/exclude rule; the config layer has validated its shape. */
export function parseMailboxRule(rule: string): Rule {
  const text = rule.trim();
  if (/^group:/i.test(text))
    return { kind: "group", value: text.slice("group:".length).trim().toLowerCase() };
  if (text.startsWith("@")) return { kind: "domain", value: text.slice(1).toLowerCase() };
  return { kind: "address", value: text.toLowerCase() };
}

function matches(rule: Rule, address: string, upn: string, groups: string[]): boolean {
  switch (rule.kind) {
    case "address":
      return address === rule.value || upn === rule.value;
    case "domain":
      return address.endsWith(`@${rule.value}`) || upn.endsWith(`@${rule.value}`);
    case "group":
      return groups.includes(rule.value);
  }
}

async function groupsOf(gateway: GraphGateway, userId: string): Promise<string[]> {
  const names: string[] = [];
  for await (const page of gateway.pages<{ displayName?: string | null }>(
    `/users/${encodeURIComponent(userId)}/memberOf`,
    {
      query: { $select: "displayName" },
    },
  )) {
    for (const group of page) if (group.displayName) names.push(group.displayName);
  }
  return names;
}

/** One page of the directory, probed: its mailboxes and skipped users, and the next page's link. */
export interface DiscoveryPage extends DiscoveryResult {
  /** The whole `@odata.nextLink` of the next directory page; absent on the last page. */
  next?: string;
}

/** Users per directory page at most (`$top` on `/users`). */
export const MAX_DIRECTORY_PAGE = 999;

/**
 * Discovers one page of the directory: reads the page at `cursor` (a nextLink from an earlier
 * page) or, without it, the first page of `pageSize` users (1–999), and probes its users. The
 * work of a page is bounded by its size, whatever the tenant's, which is what lets a coordinator
 * plan a tenant of any size in pieces. Mailboxes come back in directory order.
 */
export async function discoverMailboxPage(
  gateway: GraphGateway,
  selection: MailboxSelection,
  cursor: string | undefined,
  pageSize = MAX_DIRECTORY_PAGE,
): Promise<DiscoveryPage> {
  const top = Math.min(MAX_DIRECTORY_PAGE, Math.max(1, Math.floor(pageSize)));
  const page = await gateway.get<{ value?: DirectoryUser[]; "@odata.nextLink"?: string }>(
    cursor ?? "/users",
    cursor ? {} : { query: { $select: "id,userPrincipalName,displayName,mail", $top: String(top) } },
  );
  const found = await probeUsers(gateway, selection, page.value ?? []);
  const next = page["@odata.nextLink"];
  return next ? { ...found, next } : found;
}

/** Every mailbox of the tenant, page after page (small tenants and tools; the coordinator pages). */
export async function discoverMailboxes(
  gateway: GraphGateway,
  selection: MailboxSelection = {},
): Promise<DiscoveryResult> {
  const result: DiscoveryResult = { mailboxes: [], skipped: [] };
  let cursor: string | undefined;
  do {
    const page = await discoverMailboxPage(gateway, selection, cursor);
    result.mailboxes.push(...page.mailboxes);
    result.skipped.push(...page.skipped);
    cursor = page.next;
  } while (cursor);
  result.skipped.sort((a, b) => a.upn.localeCompare(b.upn));
  return result;
}

/** Inner requests of one batch that Outlook serves at once: a batch of probes is this many probes in flight. */
const SERVED_PER_BATCH = 4;

/** Applies the selection rules to `users` and probes the mailbox of each selected one. */
async function probeUsers(
  gateway: GraphGateway,
  selection: MailboxSelection,
  users: DirectoryUser[],
): Promise<DiscoveryResult> {
  const include = (selection.include ?? []).map(parseMailboxRule);
  const exclude = (selection.exclude ?? []).map(parseMailboxRule);
  const needGroups = [...include, ...exclude].some((r) => r.kind === "group");
  const concurrency = Math.min(64, Math.max(1, Math.floor(selection.probeConcurrency ?? 32)));
  const batchSize = batchSizeOf(selection.probeBatchSize);

  const skipped: SkippedUser[] = [];
  /** The users the rules select, in directory order, with their address and groups. */
  const selected: Array<{ user: DirectoryUser; address: string; groups: string[] } | undefined> = new Array(
    users.length,
  );
  const select = async (user: DirectoryUser, index: number) => {
    const upn = user.userPrincipalName;
    if (!user.mail) {
      skipped.push({ userId: user.id, upn, reason: "no mail address (no Exchange mailbox)" });
      return;
    }
    const address = user.mail.toLowerCase();
    const groups = needGroups ? (await groupsOf(gateway, user.id)).map((g) => g.toLowerCase()) : [];
    const upnLower = upn.toLowerCase();
    if (include.length > 0 && !include.some((r) => matches(r, address, upnLower, groups))) {
      skipped.push({ userId: user.id, upn, reason: "not matched by any include rule" });
      return;
    }
    const excludedBy = exclude.find((r) => matches(r, address, upnLower, groups));
    if (excludedBy) {
      const text =
        excludedBy.kind === "group"
          ? `group:${excludedBy.value}`
          : excludedBy.kind === "domain"
            ? `@${excludedBy.value}`
            : excludedBy.value;
      skipped.push({ userId: user.id, upn, reason: `excluded by rule ${text}` });
      return;
    }
    selected[index] = { user, address, groups };
  };
  const queue = new PQueue({ concurrency });
  await Promise.all(users.map((user, index) => queue.add(() => select(user, index))));

  const probed = selected.filter((s) => s !== undefined);
  const probeUrl = (userId: string) => `/users/${encodeURIComponent(userId)}/mailboxSettings`;
  type Probe = { settings?: { userPurpose?: string }; error?: unknown };
  let probes: Probe[];
  if (batchSize > 1) {
    const answers = await batchGetAcross<{ userPurpose?: string }>(
      gateway,
      probed.map(({ user }) => ({ url: probeUrl(user.id), mailboxId: user.id })),
      { batchSize, concurrentBatches: Math.ceil(concurrency / SERVED_PER_BATCH) },
    );
    probes = answers.map((a) => (a.error ? { error: a.error } : { settings: a.body ?? {} }));
  } else {
    probes = await Promise.all(
      probed.map(({ user }) =>
        queue.add(() =>
          gateway.get<{ userPurpose?: string }>(probeUrl(user.id)).then(
            (settings): Probe => ({ settings }),
            (error: unknown): Probe => ({ error }),
          ),
        ),
      ),
    );
  }

  const mailboxes: DiscoveredMailbox[] = [];
  probed.forEach(({ user, address, groups }, i) => {
    const { settings, error } = probes[i] as Probe;
    if (settings) {
      mailboxes.push({
        userId: user.id,
        address,
        displayName: user.displayName ?? address,
        purpose: settings.userPurpose ?? "user",
        ...(needGroups ? { groups } : {}),
      });
      return;
    }
    if (
      error instanceof MailboxNotFoundError ||
      error instanceof AccessDeniedError ||
      error instanceof GraphSkipError
    ) {
      skipped.push({
        userId: user.id,
        upn: user.userPrincipalName,
        reason: error.code ?? `HTTP ${error.status}`,
      });
      return;
    }
    throw error;
  });
  return {
    mailboxes,
    skipped: skipped.sort((a, b) => a.upn.localeCompare(b.upn)),
  };
}
