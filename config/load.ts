/**
 * Loading and validating configuration files: bytes read safely and decoded as UTF-8, YAML parsed with
 * `yaml` (keeping source positions), checked with `ajv` against `schemas/*.schema.json` (defaults
 * applied), then against the rules a schema cannot say (`rules.ts`). Every problem carries the file and
 * the 1-based line and column of the offending YAML node; one pass reports all of them.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError, formatProblem, isError, sortProblems, type ConfigProblem } from './problems.ts';
import { connectionRuleProblems, syncRuleProblems } from './rules.ts';
import { checkSchema, compileSchema, describeValue } from './schema-check.ts';
import { parseYamlSource, readConfigFile, type SourceDoc } from './source.ts';
import type { ConnectionConfig, SyncConfig } from './types.ts';

export { ConfigError, formatProblem, type ConfigProblem };

/** Problems reported per file at most; a last one says how many more were found. */
export const MAX_PROBLEMS_PER_FILE = 100;

const syncSchema = compileSchema('sync');
const connectionSchema = compileSchema('connection');

/** Result of checking one file: the config (only when no error was found), every problem, the parsed source. */
export interface FileCheck<T> {
  file: string;
  config?: T;
  problems: ConfigProblem[];
  /** The parsed document (for positions of later checks), when the file was readable YAML. */
  source?: SourceDoc;
}

function capped(file: string, problems: ConfigProblem[], omitted = 0): ConfigProblem[] {
  const sorted = sortProblems(problems);
  if (sorted.length <= MAX_PROBLEMS_PER_FILE && omitted === 0) return sorted;
  const shown = sorted.slice(0, MAX_PROBLEMS_PER_FILE);
  const last = shown[shown.length - 1];
  const more = sorted.length - shown.length + omitted;
  shown.push({ file, line: last.line, column: last.column, message: `${more} more problems not shown`, code: 'truncated' });
  return shown;
}

function checkDocument<T>(
  file: string,
  text: string,
  kind: 'sync' | 'connection',
  rules: (src: SourceDoc, errorPaths: Set<string>) => ConfigProblem[],
  finish: (cfg: T) => void,
): FileCheck<T> {
  const problems: ConfigProblem[] = [];
  const src = parseYamlSource(file, text, problems);
  if (!src) return { file, problems: capped(file, problems) };
  const v = src.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    const what = kind === 'sync' ? 'a sync file is one YAML mapping (key: value pairs) with name, source, metric and mapping' : 'the connection file is one YAML mapping (key: value pairs) starting with type';
    const got = Array.isArray(v) ? 'a list; put each sync in its own file' : describeValue(v);
    problems.push({ file, ...src.pos([]), message: `${what}; this file holds ${got}`, code: 'not-a-mapping' });
    return { file, problems, source: src };
  }
  const schema = checkSchema(kind === 'sync' ? syncSchema : connectionSchema, src);
  problems.push(...schema.problems, ...rules(src, schema.errorPaths));
  if (problems.some(isError)) return { file, problems: capped(file, problems, schema.omitted), source: src };
  const cfg = v as T;
  finish(cfg);
  return { file, config: cfg, problems: capped(file, problems), source: src };
}

/**
 * Checks a sync file's text; `file` is only used in messages.
 * @returns the sync with every default applied (when there is no error) and all problems, warnings included.
 */
export function checkSyncText(file: string, text: string): FileCheck<SyncConfig> {
  return checkDocument<SyncConfig>(file, text, 'sync', syncRuleProblems, (cfg) => {
    if (!cfg.schedule.cron && !cfg.schedule.interval) cfg.schedule.cron = '0 * * * *';
  });
}

/** Reads and checks one sync file (see `checkSyncText`); unreadable files are problems too. */
export function checkSyncFile(file: string): FileCheck<SyncConfig> {
  const r = readConfigFile(file);
  if ('problems' in r) return { file, problems: r.problems };
  return checkSyncText(file, r.text);
}

/**
 * Reads and validates one sync YAML file.
 * @returns the sync with defaults applied (hourly schedule in UTC when none is given, see the schema).
 * @throws ConfigError listing every problem (warnings included) with its file:line:column, when any is an error.
 */
export function loadSyncFile(file: string): SyncConfig {
  return orThrow(checkSyncFile(file));
}

/** As `loadSyncFile`, from text already read; `file` is only used in messages. @throws ConfigError */
export function parseSyncText(file: string, text: string): SyncConfig {
  return orThrow(checkSyncText(file, text));
}

function orThrow<T>(c: FileCheck<T>): T {
  if (!c.config) throw new ConfigError(c.problems);
  return c.config;
}

/** Checks the connection file's text. A DuckDB `path` is resolved against the file's folder. */
export function checkConnectionText(file: string, text: string): FileCheck<ConnectionConfig> {
  return checkDocument<ConnectionConfig>(file, text, 'connection', connectionRuleProblems, (cfg) => {
    if (cfg.type === 'duckdb' && !isAbsolute(cfg.path)) cfg.path = resolve(dirname(resolve(file)), cfg.path);
  });
}

/** Reads and checks the warehouse connection file. */
export function checkConnectionFile(file: string): FileCheck<ConnectionConfig> {
  const r = readConfigFile(file);
  if ('problems' in r) return { file, problems: r.problems };
  return checkConnectionText(file, r.text);
}

/**
 * Reads and validates the warehouse connection file. A DuckDB `path` is resolved against the file's folder.
 * @throws ConfigError listing every problem with its position.
 */
export function loadConnectionFile(file: string): ConnectionConfig {
  return orThrow(checkConnectionFile(file));
}
