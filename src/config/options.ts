import { PgmillProblemsError } from "../errors.js";
import { settingsSchema, type SettingName } from "./schema.js";

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<S>;

/** `PGMILL_DB_POOL_SIZE` -> `dbPoolSize`, `DATABASE_URL` -> `databaseUrl`; `tasks` is the library's list of tasks, so the directory is `tasksDir`. */
type OptionName<S extends SettingName> = S extends "PGMILL_TASKS"
  ? "tasksDir"
  : CamelCase<S extends `PGMILL_${infer Rest}` ? Rest : S>;

export type SettingValue = string | number | boolean | readonly string[];

/** Every setting as a library option, in the environment variable's units (seconds stay seconds). */
export type SettingOptions = { readonly [S in SettingName as OptionName<S>]?: SettingValue };

function optionName(setting: SettingName): string {
  if (setting === "PGMILL_TASKS") return "tasksDir";
  return setting
    .replace(/^PGMILL_/, "")
    .toLowerCase()
    .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

const SETTING_BY_OPTION: ReadonlyMap<string, SettingName> = new Map(
  (Object.keys(settingsSchema.shape) as SettingName[]).map((setting) => [optionName(setting), setting]),
);

/** How a library user's problems name a setting: by the option they wrote, and its variable. */
export function describeOption(setting: SettingName): string {
  return `${optionName(setting)} (${setting})`;
}

/**
 * Library options as setting overrides, in the same string form the
 * environment gives, so one schema checks both. An unknown option is an error,
 * not ignored: a typo would otherwise run with the default.
 */
export function settingsFromOptions(options: Readonly<Record<string, unknown>>): Partial<Record<SettingName, string>> {
  const overrides: Partial<Record<SettingName, string>> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const setting = SETTING_BY_OPTION.get(key);
    if (!setting) unknown.push(`${key}: not a pgmill setting (known: ${[...SETTING_BY_OPTION.keys()].join(", ")})`);
    else overrides[setting] = Array.isArray(value) ? value.join(",") : String(value);
  }
  if (unknown.length) throw new PgmillProblemsError("PGMILL_INVALID_CONFIG", "Invalid configuration:", unknown);
  return overrides;
}
