/** The Microsoft Graph access layer: every request mailstream makes to Microsoft. */
export {
  type ClientCredential,
  createTokenProvider,
  GRAPH_SCOPE,
  type TokenProvider,
  type TokenProviderOptions,
} from "./auth.js";
export {
  type BatchAnswer,
  type BatchedGet,
  type BatchGetAcrossOptions,
  type BatchGetOptions,
  type BatchOnceAnswer,
  batchGet,
  batchGetAcross,
  batchGetOnce,
  batchSizeOf,
  MAX_BATCH_REQUESTS,
  type MailboxGet,
} from "./batch.js";
export {
  createGraphGateway,
  type GraphGateway,
  type GraphGatewayOptions,
  type RequestSettings,
  splitBaseUrl,
} from "./client.js";
export {
  type DeltaPage,
  type FolderDeltaOptions,
  folderDeltaPages,
  MESSAGE_META_FIELDS,
  type MessageMeta,
} from "./delta.js";
export {
  AccessDeniedError,
  FolderNotFoundError,
  GraphAuthorizationError,
  GraphRequestError,
  GraphRetryableError,
  GraphSkipError,
  ItemNotFoundError,
  MailboxNotFoundError,
  mapGraphError,
  SyncStateLostError,
} from "./errors.js";
export {
  EXPORT_BATCH_LIMIT,
  type ExportAnswer,
  exportItemStreamed,
  exportItems,
  type StreamedExport,
} from "./export-items.js";
export { type FolderInfo, listFolders } from "./folders.js";
export {
  batchableStart,
  type ItemDeltaFirstPage,
  type ItemDeltaOptions,
  type ItemDeltaPage,
  type ItemDeltaStart,
  itemDeltaFirstPages,
  itemDeltaPages,
  type MailboxItemRecord,
} from "./item-delta.js";
export { ITEM_META_PROPERTIES, type ItemKind, itemKind, itemMetadata } from "./item-meta.js";
export {
  archiveTrafficKey,
  type ExchangeMailboxIds,
  exchangeMailboxIds,
  exchangeMailboxIdsOf,
  isMailFolderClass,
  MAIL_FOLDER_CLASS,
  type MailboxFolder,
  type MailboxFolderInfo,
  type MailboxRole,
  mailboxPath,
  readFolderTree,
  readUserFolderTrees,
  type UserFolderTrees,
  withPaths,
} from "./mailbox-folders.js";
export { type MailboxCounters, MailboxTraffic } from "./mailbox-traffic.js";
export {
  type DiscoveredMailbox,
  type DiscoveryResult,
  discoverMailboxes,
  discoverMailboxPage,
  type MailboxSelection,
  parseMailboxRule,
  type SkippedUser,
} from "./mailboxes.js";
export { openMime } from "./mime.js";
export type { RequestContext, RequestTally } from "./request-context.js";
export type { RequestPolicyOptions } from "./request-policy.js";
export { parseRetryAfter } from "./retry-after.js";
export { type CreatedFolder, createFolder, createMessage, updateMessage } from "./write.js";
