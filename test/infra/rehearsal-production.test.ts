/**
 * The deploy rehearsal (test/infra/rehearsal-suite.ts) of the documented production variant:
 * archive prefix, compliance lock, break-glass role, replication, restore role (a restore is run
 * with it), tracing, a secret with its own key. Its discovery runs in pieces of one mailbox and
 * its coordinator stops after one piece (a timeout below the deadline margin), so controllers run
 * the later pieces as deployed: with their own role and environment (include/exclude rules).
 */
import { FULL_CONFIG } from "./fixtures.js";
import { describeRehearsal } from "./rehearsal-suite.js";

describeRehearsal("the documented production variant", {
  ...FULL_CONFIG,
  discoveryPieceMailboxes: 1,
  coordinator: { ...FULL_CONFIG.coordinator, timeoutSeconds: 30 },
});
