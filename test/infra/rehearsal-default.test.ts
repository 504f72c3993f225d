/** The deploy rehearsal (test/infra/rehearsal-suite.ts) of the default configuration: only the required fields. */
import { MINIMAL_CONFIG } from "./fixtures.js";
import { describeRehearsal } from "./rehearsal-suite.js";

describeRehearsal("the default configuration", MINIMAL_CONFIG);
