/**
 * The deploy rehearsal (test/infra/rehearsal-suite.ts) of the documented production variant:
 * archive prefix, compliance lock, break-glass role, replication, restore role (a restore is run
 * with it), tracing, a secret with its own key.
 */
import { FULL_CONFIG } from "./fixtures.js";
import { describeRehearsal } from "./rehearsal-suite.js";

describeRehearsal("the documented production variant", FULL_CONFIG);
