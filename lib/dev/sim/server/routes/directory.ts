/** `/users`, `/users/{id|upn}`, `/users/{id}/memberOf` and the mailbox probe `/users/{id}/mailboxSettings`. */
import { createHash } from "node:crypto";

import { FatalError } from "../../../../errors.js";
import { graphError, jsonResponse, type SimRequest, type SimResponse } from "../graph-types.js";
import { applySelect, parseSelect, userJson } from "../representations.js";
import { parseTop, type RouteContext, type RouteHandler, withPosition } from "./context.js";

const USERS_DEFAULT_PAGE = 100;
const USERS_MAX_PAGE = 999;

/** `GET /users`: paged by `$top` (1–999, default 100) through opaque `$skiptoken` links. */
export function listUsers(ctx: RouteContext, req: SimRequest): SimResponse {
  if (req.query.has("$skip")) {
    return graphError(req, 400, "Request_UnsupportedQuery", "'$skip' is not supported by the service.");
  }
  const select = parseSelect(req.query);
  if (select && [...select].some((s) => s.toLowerCase() === "mailboxsettings")) {
    return graphError(
      req,
      501,
      "NotImplemented",
      "The request is not supported by the service: mailboxSettings cannot be selected on a collection.",
    );
  }
  const top = parseTop(req.query) ?? USERS_DEFAULT_PAGE;
  if (!Number.isInteger(top) || top < 1 || top > USERS_MAX_PAGE) {
    return graphError(
      req,
      400,
      "Request_UnsupportedQuery",
      `Invalid page size specified: '${req.query.get("$top")}'. Must be between 1 and ${USERS_MAX_PAGE} inclusive.`,
    );
  }
  // Keyset paging by id: a user added or removed between pages neither shifts nor repeats others.
  const users = [...ctx.store.listUsers()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const token = req.query.get("$skiptoken");
  let after = "";
  if (token) {
    try {
      after = JSON.parse(Buffer.from(token, "base64url").toString("utf8")).after;
    } catch {
      return graphError(req, 400, "Directory_InvalidSkipToken", `The skip token '${token}' is not valid.`);
    }
  }
  const rest = users.filter((u) => u.id > after);
  const page = rest.slice(0, top);
  const last = page[page.length - 1];
  const body: Record<string, unknown> = {
    "@odata.context": `${ctx.baseUrl}/$metadata#users`,
    value: page.map((u) => userJson(u, select)),
  };
  if (rest.length > top && last) {
    const next = Buffer.from(JSON.stringify({ after: last.id })).toString("base64url");
    body["@odata.nextLink"] = `${ctx.baseUrl}/users?${withPosition(req.query, "$skiptoken", next)}`;
  }
  return jsonResponse(200, body);
}

/** `GET /users/{id|upn}`. */
export function getUser(ctx: RouteContext, req: SimRequest, idOrUpn: string): SimResponse {
  const user = ctx.store.getUser(idOrUpn);
  if (!user) {
    return graphError(
      req,
      404,
      "Request_ResourceNotFound",
      `Resource '${idOrUpn}' does not exist or one of its queried reference-property objects are not present.`,
    );
  }
  return jsonResponse(200, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users/$entity`,
    ...userJson(user, parseSelect(req.query)),
  });
}

/** `GET /users/{id}/mailboxSettings`: the probe; `userPurpose` tells user, shared, room, … */
export const getMailboxSettings: RouteHandler = ({ ctx, req, user }) => {
  const mailbox = user.mailbox;
  if (!mailbox)
    throw new FatalError(`mailboxSettings: expected a user with a mailbox, found none for ${user.id}`);
  const settings = {
    archiveFolder: "",
    timeZone: mailbox.timeZone,
    delegateMeetingMessageDeliveryOptions: "sendToDelegateOnly",
    dateFormat: "dd/MM/yyyy",
    timeFormat: "HH:mm",
    userPurpose: mailbox.purpose,
    automaticRepliesSetting: { status: "disabled", externalAudience: "all" },
    language: { locale: "en-US", displayName: "English (United States)" },
    workingHours: {
      daysOfWeek: ["monday", "tuesday", "wednesday", "thursday", "friday"],
      startTime: "08:00:00.0000000",
      endTime: "17:00:00.0000000",
      timeZone: { name: mailbox.timeZone },
    },
  };
  return jsonResponse(200, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/mailboxSettings`,
    ...applySelect(settings, parseSelect(req.query)),
  });
};

const MEMBER_OF_DEFAULT_PAGE = 100;

/** A stable group id for a group display name (the store knows groups by name only). */
function groupId(name: string): string {
  const hex = createHash("sha256").update(`group\u0000${name}`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** `GET /users/{id|upn}/memberOf` (and `transitiveMemberOf`): the user's groups, paged by `$top` (1–999, default 100). */
export function listMemberOf(
  ctx: RouteContext,
  req: SimRequest,
  idOrUpn: string,
  linkPath: string,
): SimResponse {
  const user = ctx.store.getUser(idOrUpn);
  if (!user) {
    return graphError(
      req,
      404,
      "Request_ResourceNotFound",
      `Resource '${idOrUpn}' does not exist or one of its queried reference-property objects are not present.`,
    );
  }
  const top = parseTop(req.query) ?? MEMBER_OF_DEFAULT_PAGE;
  if (!Number.isInteger(top) || top < 1 || top > USERS_MAX_PAGE) {
    return graphError(
      req,
      400,
      "Request_UnsupportedQuery",
      `Invalid page size specified: '${req.query.get("$top")}'. Must be between 1 and ${USERS_MAX_PAGE} inclusive.`,
    );
  }
  const token = req.query.get("$skiptoken");
  const offset = token ? Number(Buffer.from(token, "base64url").toString("utf8")) : 0;
  if (!Number.isInteger(offset) || offset < 0) {
    return graphError(req, 400, "Directory_InvalidSkipToken", `The skip token '${token}' is not valid.`);
  }
  const select = parseSelect(req.query);
  const groups = [...user.groups].sort();
  const body: Record<string, unknown> = {
    "@odata.context": `${ctx.baseUrl}/$metadata#directoryObjects`,
    value: groups.slice(offset, offset + top).map((name) =>
      applySelect(
        {
          "@odata.type": "#microsoft.graph.group",
          id: groupId(name),
          displayName: name,
          mailEnabled: false,
          securityEnabled: true,
        },
        select,
      ),
    ),
  };
  if (offset + top < groups.length) {
    const next = Buffer.from(String(offset + top)).toString("base64url");
    body["@odata.nextLink"] = `${ctx.baseUrl}${linkPath}?${withPosition(req.query, "$skiptoken", next)}`;
  }
  return jsonResponse(200, body);
}
