import { afterAll } from "vitest";
import { runFileCleanups } from "./file-cleanup.js";

// Registered at file level for every test file (vitest `setupFiles`).
afterAll(runFileCleanups);
