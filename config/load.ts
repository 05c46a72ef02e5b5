/**
 * Loading and validating configuration files: YAML parsed with `yaml` (keeping source positions),
 * checked with `ajv` against `schemas/*.schema.json`, then against the rules a schema cannot say.
 * Every problem carries the file, 1-based line and column of the offending YAML node.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ConnectionConfig, SyncConfig } from './types.ts';

/** One problem found in a configuration file; `line`/`column` are 1-based positions in the file. */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** Raised when a configuration file cannot be used; `problems` lists every problem found. */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

/** `file:line:column: message`, the format editors and CI annotators understand. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}

const schemaDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');
const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
const validateSyncSchema = ajv.compile(JSON.parse(readFileSync(resolve(schemaDir, 'sync.schema.json'), 'utf8')));
const validateConnectionSchema = ajv.compile(
  JSON.parse(readFileSync(resolve(schemaDir, 'connection.schema.json'), 'utf8')),
);

interface Parsed {
  doc: Document;
  lines: LineCounter;
  value: unknown;
}

function parseYaml(file: string, text: string, problems: ConfigProblem[]): Parsed | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  for (const err of doc.errors) {
    const pos = err.linePos?.[0] ?? { line: 1, col: 1 };
    problems.push({ file, line: pos.line, column: pos.col, message: `YAML: ${err.message.split('\n')[0]}` });
  }
  if (doc.errors.length > 0) return undefined;
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    problems.push({ file, line: 1, column: 1, message: `YAML: ${(e as Error).message}` });
    return undefined;
  }
  return { doc, lines, value };
}

/** The YAML node at a JSON pointer-like path, or the deepest existing ancestor. */
function nodeAt(doc: Document, path: (string | number)[]): { node: Node | null; keyNode: Node | null } {
  let node: unknown = doc.contents;
  let keyNode: Node | null = null;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      keyNode = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(part)];
      if (item === undefined) break;
      keyNode = null;
      node = item;
    } else break;
  }
  return { node: (node as Node) ?? null, keyNode };
}

function position(parsed: Parsed, path: (string | number)[], preferKey = false): { line: number; column: number } {
  const { node, keyNode } = nodeAt(parsed.doc, path);
  const target = preferKey && keyNode ? keyNode : node ?? keyNode;
  const offset = target?.range?.[0] ?? 0;
  const p = parsed.lines.linePos(offset);
  return { line: p.line, column: p.col };
}

function pathOf(instancePath: string): string[] {
  return instancePath === '' ? [] : instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function schemaProblems(file: string, parsed: Parsed, errors: ErrorObject[] | null | undefined): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const e of errors ?? []) {
    const path = pathOf(e.instancePath);
    const where = path.length ? path.join('.') : '(top level)';
    let message: string;
    let at = path;
    let preferKey = false;
    if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      at = [...path, extra];
      preferKey = true;
      message = `unknown key "${extra}"${path.length ? ` in ${where}` : ''}`;
    } else if (e.keyword === 'required') {
      message = `${where}: missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
    } else {
      message = `${where}: ${e.message}`;
    }
    out.push({ file, ...position(parsed, at, preferKey), message });
  }
  return out;
}

/** Semantic rules of a sync definition that JSON Schema cannot express. */
function syncRuleProblems(file: string, parsed: Parsed, cfg: SyncConfig): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const at = (path: (string | number)[], message: string) => out.push({ file, ...position(parsed, path), message });
  const hasName = cfg.metric?.name !== undefined;
  const hasColumn = cfg.metric?.column !== undefined;
  if (hasName === hasColumn) {
    at(['metric'], 'metric: give exactly one of "name" (a constant metric) or "column" (the metric name per row)');
  }
  if (cfg.mapping.event_timestamp === cfg.mapping.change_timestamp) {
    at(['mapping', 'change_timestamp'], 'mapping.change_timestamp must be a different column than mapping.event_timestamp');
  }
  if (cfg.schedule.cron !== undefined && cfg.schedule.interval !== undefined) {
    at(['schedule'], 'schedule: give either "cron" or "interval", not both');
  }
  return out;
}

/**
 * Reads and validates one sync YAML file.
 * @returns the sync with defaults applied (hourly schedule in UTC when none is given).
 * @throws ConfigError listing every problem with its file:line:column.
 */
export function loadSyncFile(file: string): SyncConfig {
  return parseSyncText(file, readFileSync(file, 'utf8'));
}

/** As `loadSyncFile`, from text already read; `file` is only used in messages. */
export function parseSyncText(file: string, text: string): SyncConfig {
  const problems: ConfigProblem[] = [];
  const parsed = parseYaml(file, text, problems);
  if (!parsed) throw new ConfigError(problems);
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError([{ file, line: 1, column: 1, message: 'a sync file must be a YAML mapping (key: value pairs)' }]);
  }
  if (!validateSyncSchema(value)) throw new ConfigError(schemaProblems(file, parsed, validateSyncSchema.errors));
  const cfg = value as SyncConfig;
  if (!cfg.schedule.cron && !cfg.schedule.interval) cfg.schedule.cron = '0 * * * *';
  problems.push(...syncRuleProblems(file, parsed, cfg));
  if (problems.length) throw new ConfigError(problems);
  return cfg;
}

/**
 * Reads and validates the warehouse connection file. A DuckDB `path` is resolved against the file's folder.
 * @throws ConfigError listing every problem with its position.
 */
export function loadConnectionFile(file: string): ConnectionConfig {
  const problems: ConfigProblem[] = [];
  const parsed = parseYaml(file, readFileSync(file, 'utf8'), problems);
  if (!parsed) throw new ConfigError(problems);
  if (!validateConnectionSchema(parsed.value)) {
    throw new ConfigError(schemaProblems(file, parsed, validateConnectionSchema.errors));
  }
  const cfg = parsed.value as ConnectionConfig;
  if (cfg.type === 'duckdb' && !isAbsolute(cfg.path)) cfg.path = resolve(dirname(resolve(file)), cfg.path);
  return cfg;
}
