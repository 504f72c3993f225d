/**
 * `GET /reports/getMailboxUsageDetail(period='D7')`, as Graph answers it: 302 to a
 * pre-authenticated CSV download, or 403 when the app lacks `Reports.Read.All`. The CSV has the
 * documented 17 columns, a UTF-8 byte order mark, and one row per mailbox (users, shared, rooms).
 */
import { mailboxUsage } from "../../tenant/describe.js";
import { graphError, type SimRequest, type SimResponse } from "../graph-types.js";
import { userCreatedDateTime } from "../representations.js";
import type { RouteContext } from "./context.js";

const PERIODS = new Set(["D7", "D30", "D90", "D180"]);
const COLUMNS = [
  "Report Refresh Date",
  "User Principal Name",
  "Display Name",
  "Is Deleted",
  "Deleted Date",
  "Created Date",
  "Last Activity Date",
  "Item Count",
  "Storage Used (Byte)",
  "Issue Warning Quota (Byte)",
  "Prohibit Send Quota (Byte)",
  "Prohibit Send/Receive Quota (Byte)",
  "Deleted Item Count",
  "Deleted Item Size (Byte)",
  "Deleted Item Quota (Byte)",
  "Has Archive",
  "Report Period",
];
/** Exchange Online Plan 2 quotas: 98, 99 and 100 GB; 30 GB of recoverable items. */
const QUOTAS = ["105226698752", "106300440576", "107374182400"];
const DELETED_ITEM_QUOTA = "32212254720";

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The report's CSV for the tenant as it is now. */
function mailboxUsageCsv(ctx: RouteContext, period: string): Buffer {
  const today = new Date().toISOString().slice(0, 10);
  const rows = ctx.store
    .listUsers()
    .filter((u) => u.mailbox !== null)
    .map((user) => {
      const usage = mailboxUsage(ctx.store, user.id);
      return [
        today,
        user.userPrincipalName,
        user.displayName,
        "False",
        "",
        userCreatedDateTime(user).slice(0, 10),
        usage.lastActivity?.slice(0, 10) ?? "",
        String(usage.items),
        String(usage.bytes),
        ...QUOTAS,
        String(usage.deletedItems),
        String(usage.deletedBytes),
        DELETED_ITEM_QUOTA,
        usage.hasArchive ? "True" : "False",
        period.slice(1),
      ];
    });
  const lines = [COLUMNS, ...rows].map((row) => row.map(csvField).join(","));
  return Buffer.from(`\ufeff${lines.join("\r\n")}\r\n`, "utf8");
}

/** Answers `GET /reports/getMailboxUsageDetail(period='…')`. */
export function getMailboxUsageDetail(ctx: RouteContext, req: SimRequest, period: string): SimResponse {
  if (!req.roles.has("Reports.Read.All")) {
    return graphError(
      req,
      403,
      "Authorization_RequestDenied",
      "Insufficient privileges to complete the operation: expected the application permission Reports.Read.All.",
    );
  }
  if (!PERIODS.has(period)) {
    return graphError(
      req,
      400,
      "BadRequest",
      `Expected period one of ${[...PERIODS].join(", ")}, found '${period}'.`,
    );
  }
  const location = ctx.reports.create(
    ctx.origins.preauthenticated("report", ctx.origin),
    mailboxUsageCsv(ctx, period),
  );
  return { status: 302, headers: { location, "content-type": "text/plain" } };
}
