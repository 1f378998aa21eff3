// Cytomine Fallback: one stack per tenant. The program itself is program/main.ts (a function of its
// environment, so that the fleet can also run it in its own process); run here as a project's main.
import { cytomineProgram } from "./program/main";

export = cytomineProgram(process.env);
