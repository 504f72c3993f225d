/**
 * The OData query options the mailbox import/export API takes on its collections: paging by
 * `$top`/`$skip`, `$count`, and the few `$filter`/`$orderby` expressions Exchange supports.
 */
import type { MailboxItemView, SimFolder } from "../../../model.js";
import { MAIL_FOLDER_CLASS } from "../../../model.js";
import { MailErrors, type SimRequest, type SimResponse } from "../../graph-types.js";

export { pagingOf } from "../context.js";

import { type Paging, withPosition } from "../context.js";

/** One page of `all` with `@odata.nextLink` (`$skip`) and `@odata.count` when asked for. */
export function pageOf<T>(
  req: SimRequest,
  all: T[],
  paging: Paging,
  context: string,
  linkPath: string,
  json: (t: T) => Record<string, unknown>,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    "@odata.context": context,
    ...(req.query.get("$count")?.toLowerCase() === "true" ? { "@odata.count": all.length } : {}),
    value: all.slice(paging.skip, paging.skip + paging.top).map(json),
  };
  if (paging.skip + paging.top < all.length) {
    body["@odata.nextLink"] =
      `${linkPath}?${withPosition(req.query, "$skip", String(paging.skip + paging.top))}`;
  }
  return body;
}

/** `$filter` on folders: `type eq '…'` and/or `displayName eq '…'`, joined by `and`. */
export function folderFilter(req: SimRequest): ((f: SimFolder) => boolean) | SimResponse {
  const raw = req.query.get("$filter");
  if (!raw) return () => true;
  const tests: Array<(f: SimFolder) => boolean> = [];
  for (const clause of raw.split(/\s+and\s+/i)) {
    const m = /^\s*(type|displayName)\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(clause);
    if (!m) {
      return MailErrors.badRequest(
        req,
        `Expected $filter clauses "type eq '…'" or "displayName eq '…'" joined by "and", found "${clause}".`,
      );
    }
    const value = (m[2] ?? "").replace(/''/g, "'");
    tests.push(
      (m[1] ?? "").toLowerCase() === "type"
        ? (f) => (f.folderClass ?? MAIL_FOLDER_CLASS).toLowerCase() === value.toLowerCase()
        : (f) => f.displayName === value,
    );
  }
  return (f) => tests.every((t) => t(f));
}

type DateField = "receivedDateTime" | "createdDateTime" | "lastModifiedDateTime";
const DATE_FIELDS: readonly DateField[] = ["receivedDateTime", "createdDateTime", "lastModifiedDateTime"];
const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
};

function fieldOf(name: string): DateField | undefined {
  return DATE_FIELDS.find((f) => f.toLowerCase() === name.toLowerCase());
}

/**
 * `$filter` on items: comparisons of `receivedDateTime`, `createdDateTime` or
 * `lastModifiedDateTime` with a date, joined by `and`; with `deltaOnly`, only what item delta
 * supports (`receivedDateTime ge|gt`). Items without the field (a contact has no received date)
 * do not match.
 */
export function itemFilter(
  req: SimRequest,
  raw: string | undefined,
  deltaOnly: boolean,
): ((v: MailboxItemView) => boolean) | SimResponse {
  if (!raw) return () => true;
  const tests: Array<(v: MailboxItemView) => boolean> = [];
  for (const clause of raw.split(/\s+and\s+/i)) {
    const m = /^\s*(\w+)\s+(eq|ne|gt|ge|lt|le)\s+'?([0-9T:.\-+Z]+)'?\s*$/i.exec(clause);
    const field = m && fieldOf(m[1] ?? "");
    const op = (m?.[2] ?? "").toLowerCase();
    const at = Date.parse(m?.[3] ?? "");
    const allowed = !deltaOnly || (field === "receivedDateTime" && (op === "ge" || op === "gt"));
    if (!m || !field || Number.isNaN(at) || !allowed) {
      return MailErrors.badRequest(
        req,
        deltaOnly
          ? `Expected $filter "receivedDateTime ge {date}" or "receivedDateTime gt {date}" on item delta, found "${clause}".`
          : `Expected $filter comparisons of receivedDateTime, createdDateTime or lastModifiedDateTime with a date, found "${clause}".`,
      );
    }
    const compare = COMPARE[op] as (a: number, b: number) => boolean;
    tests.push((v) => {
      const value = v[field];
      return value !== undefined && compare(Date.parse(value), at);
    });
  }
  return (v) => tests.every((t) => t(v));
}

/** `$orderby` on items: a date field, `asc` or `desc`; with `deltaOnly`, only `receivedDateTime desc`. */
export function itemOrder(
  req: SimRequest,
  raw: string | undefined,
  deltaOnly: boolean,
): ((a: MailboxItemView, b: MailboxItemView) => number) | undefined | SimResponse {
  if (!raw) return undefined;
  const m = /^\s*(\w+)(?:\s+(asc|desc))?\s*$/i.exec(raw);
  const field = m && fieldOf(m[1] ?? "");
  const desc = (m?.[2] ?? "asc").toLowerCase() === "desc";
  if (!field || (deltaOnly && (field !== "receivedDateTime" || !desc))) {
    return MailErrors.badRequest(
      req,
      deltaOnly
        ? `Expected $orderby "receivedDateTime desc" on item delta, found "${raw}".`
        : `Expected $orderby a date field with asc or desc, found "${raw}".`,
    );
  }
  return (a, b) => {
    const x = a[field] ?? "";
    const y = b[field] ?? "";
    return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
  };
}
