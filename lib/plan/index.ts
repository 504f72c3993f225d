export {
  addWork,
  folderWork,
  itemsToTransfer,
  mailboxMinimumSeconds,
  mailboxStreamSeconds,
  mailboxWork,
  minimumWorkSeconds,
  noWork,
  workSeconds,
} from "./cost.js";
export {
  createPlanner,
  folderRead,
  isMailClass,
  type ListedMailbox,
  planMailboxesFromListing,
  readsItems,
} from "./from-listing.js";
export { budgetRate, defaultPlanLimits, type PlanLimits, resolvePlanLimits } from "./limits.js";
export { lowerBound } from "./lower-bound.js";
export { type PlanInput, planJob } from "./plan.js";
export {
  type MailboxInterval,
  type Schedule,
  type ScheduledUnit,
  simulateSchedule,
  type UnitTiming,
} from "./simulate.js";
export {
  cutFiller,
  type FolderGroup,
  type FolderWork,
  groupFolders,
  groupFoldersByShare,
  MAX_FOLDERS_PER_UNIT,
  type MailboxSplit,
  mayShare,
  shareMailbox,
  slotsWithin,
  splitMailbox,
} from "./split.js";
export type {
  FolderRead,
  MailboxPlan,
  MailContent,
  Plan,
  PlanFolder,
  PlanMailbox,
  Unit,
  WorkEstimate,
} from "./types.js";
