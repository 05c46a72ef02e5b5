/**
 * Checking a parsed configuration file against its JSON Schema (`schemas/*.schema.json`, draft 2020-12,
 * ajv) and turning each schema error into a message a data engineer reads at a glance, placed on the
 * YAML node it is about. Unknown keys get a "did you mean" for a near miss in the same mapping, or the
 * place where a known key belongs ("email" under mapping -> mapping.profile.email).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { ConfigProblem } from './problems.ts';
import { REPO_ROOT } from './repo-root.ts';
import type { SourceDoc, ValuePath } from './source.ts';
import { closest } from './suggest.ts';

/** Folder of the JSON Schemas shipped with the tool. */
export const SCHEMA_DIR = resolve(REPO_ROOT, 'schemas');

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  oneOf?: JsonSchema[];
  patternErrorMessage?: string;
  const?: unknown;
  enum?: unknown[];
  description?: string;
}

/** A compiled schema with the index of every key path it defines. */
export interface CompiledSchema {
  name: string;
  schema: JsonSchema;
  validate: ValidateFunction;
  /** Every key path the schema defines, e.g. `mapping.profile.email`. */
  keyPaths: string[][];
}

// One instance for both schemas. `useDefaults` fills in documented defaults; `verbose` gives each
// error its schema (for patternErrorMessage and the keys of the mapping); `discriminator` makes the
// connection's oneOf report errors of the chosen `type` only.
const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false, verbose: true, discriminator: true });

function collectKeyPaths(s: JsonSchema, prefix: string[], out: string[][]): void {
  for (const [k, sub] of Object.entries(s.properties ?? {})) {
    if (k === '$schema') continue;
    out.push([...prefix, k]);
    collectKeyPaths(sub, [...prefix, k], out);
  }
  for (const alt of s.oneOf ?? []) collectKeyPaths(alt, prefix, out);
}

/** Loads and compiles `schemas/<name>.schema.json`. */
export function compileSchema(name: string): CompiledSchema {
  const schema = JSON.parse(readFileSync(resolve(SCHEMA_DIR, `${name}.schema.json`), 'utf8')) as JsonSchema;
  const keyPaths: string[][] = [];
  collectKeyPaths(schema, [], keyPaths);
  return { name, schema, validate: ajv.compile(schema), keyPaths };
}

/** `mapping.profile.email`; `(top level)` for the root. */
export function pathText(path: ValuePath): string {
  return path.length ? path.map(String).join('.') : '(top level)';
}

/** How a value reads in a message: `the number 12`, `a list`, `no value`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'no value';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return v.length > 60 ? `the text "${v.slice(0, 57)}..."` : `the text "${v}"`;
    case 'number':
      return `the number ${v}`;
    case 'boolean':
      return `the boolean ${v}`;
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  object: 'a mapping (key: value pairs)',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
};

/** Keys that would hold a secret: a configuration file names an environment variable instead. */
const SECRET_KEY = /pass(word|phrase)?|secret|token|private_key$|api_key|credential/i;

/** A sync name suggestion from free text: `Shop Orders!` -> `shop-orders`. */
export function slugName(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+|-+$/g, '')
    .replace(/-{2,}/g, '-')
    .slice(0, 63);
}

/** A key as shown in a message: at most 60 characters. */
function shortKey(key: string): string {
  return key.length > 60 ? `${key.slice(0, 57)}...` : key;
}

function unknownKey(schema: CompiledSchema, path: ValuePath, key: string, siblings: string[]): string {
  const where = path.length ? ` in ${pathText(path)}` : '';
  let msg = `unknown key "${shortKey(key)}"${where}`;
  if (schema.name === 'connection' && SECRET_KEY.test(key)) {
    return `${msg}: secrets never go in configuration files; name the environment variable that holds it (auth.password_env, auth.private_key_passphrase_env) or a key file (auth.private_key_file)`;
  }
  const near = closest(key, siblings);
  if (near !== undefined) return `${msg}; did you mean "${near}"?`;
  // A key that exists elsewhere in the schema: say where it belongs.
  const here = path.map(String).join('.');
  const elsewhere = schema.keyPaths.filter((p) => p[p.length - 1] === key && p.slice(0, -1).join('.') !== here);
  if (elsewhere.length) return `${msg}; it belongs in ${elsewhere.map((p) => `"${p.join('.')}"`).join(' or ')}`;
  const allKeys = [...new Set(schema.keyPaths.map((p) => p[p.length - 1]))];
  // Keys of other mappings only count as a near miss when one edit away: they are many, and unrelated.
  const farNear = closest(key, allKeys, 1);
  if (farNear !== undefined) {
    const p = schema.keyPaths.find((x) => x[x.length - 1] === farNear)!;
    msg += `; did you mean "${p.join('.')}"?`;
  } else if (siblings.length) {
    msg += ` (known keys${where}: ${siblings.join(', ')})`;
  }
  return msg;
}

function instancePath(e: ErrorObject): string[] {
  return e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function messageFor(schema: CompiledSchema, e: ErrorObject, path: ValuePath): { message: string; at: ValuePath; preferKey: boolean } | undefined {
  const where = pathText(path);
  const ps = (e.parentSchema ?? {}) as JsonSchema;
  // Values under the connection's auth may be a secret pasted by mistake: never repeat them.
  const redact = schema.name === 'connection' && path[0] === 'auth';
  const show = (v: unknown) => (redact ? (Array.isArray(v) ? 'a list' : v === null ? 'no value' : `a ${typeof v === 'object' ? 'mapping' : typeof v}`) : describeValue(v));
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      const siblings = Object.keys(ps.properties ?? {}).filter((k) => k !== '$schema');
      return { message: unknownKey(schema, path, extra, siblings), at: [...path, extra], preferKey: true };
    }
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return { message: `missing required key "${missing}"${path.length ? ` in ${where}` : ''}`, at: path, preferKey: true };
    }
    case 'type': {
      const want = String((e.params as { type: string }).type);
      const isColumn = want === 'string' && /^Column\b/.test(ps.description ?? '');
      const words = isColumn ? 'a column name' : (TYPE_WORDS[want] ?? want);
      if (e.data === null || e.data === undefined) return { message: `${where} has no value: give ${words} or remove the key`, at: path, preferKey: true };
      const quote = want === 'string' && (typeof e.data === 'number' || typeof e.data === 'boolean') ? '; put it in quotes if it is meant as text' : '';
      return { message: `${where} must be ${words}; got ${show(e.data)}${quote}`, at: path, preferKey: false };
    }
    case 'pattern': {
      const hint = ps.patternErrorMessage ?? `it must match ${(e.params as { pattern: string }).pattern}`;
      if (path.length === 1 && path[0] === 'name' && typeof e.data === 'string' && e.data.length > 63 && /^[a-z0-9][a-z0-9_-]*$/.test(e.data)) {
        return { message: `name is ${e.data.length} characters long; a sync name is at most 63 (it becomes the Temporal Schedule id)`, at: path, preferKey: false };
      }
      const shown = redact ? '' : ` ${describeValue(e.data).replace(/^the text /, '')}`;
      let msg = `${where}${shown} is not valid: ${hint}`;
      if (path.length === 1 && path[0] === 'name' && typeof e.data === 'string') {
        const slug = slugName(e.data);
        if (slug && /^[a-z0-9][a-z0-9_-]{0,62}$/.test(slug)) msg += `; did you mean "${slug}"?`;
      }
      return { message: msg, at: path, preferKey: false };
    }
    case 'minLength':
      return { message: `${where} must not be empty`, at: path, preferKey: false };
    case 'maxLength': {
      const limit = (e.params as { limit: number }).limit;
      return { message: `${where} is ${String(e.data).length} characters long; at most ${limit} are allowed`, at: path, preferKey: false };
    }
    case 'minimum':
    case 'maximum': {
      const limit = (e.params as { limit: number }).limit;
      return { message: `${where} must be at ${e.keyword === 'minimum' ? 'least' : 'most'} ${limit.toLocaleString('en-US')}; got ${String(e.data)}`, at: path, preferKey: false };
    }
    case 'minProperties':
      if (path[path.length - 1] === 'profile') {
        return { message: `${where} needs at least one profile identifier column: email, phone_number, external_id or klaviyo_id`, at: path, preferKey: true };
      }
      return { message: `${where} must not be empty`, at: path, preferKey: true };
    case 'discriminator': {
      const p = e.params as { error: string; tag: string; tagValue: unknown };
      if (p.error === 'mapping' && typeof p.tagValue === 'string') {
        const options = (schema.schema.oneOf ?? []).map((s) => s.properties?.[p.tag]?.const).filter((x): x is string => typeof x === 'string');
        const near = closest(p.tagValue, options);
        return {
          message: `${p.tag} "${p.tagValue}" is not a known warehouse: use ${options.map((o) => `"${o}"`).join(' or ')}${near ? `; did you mean "${near}"?` : ''}`,
          at: [...path, p.tag],
          preferKey: false,
        };
      }
      return { message: `${p.tag} must be a string naming the warehouse`, at: [...path, p.tag], preferKey: false };
    }
    case 'const':
    case 'enum': {
      const allowed = e.keyword === 'const' ? [(e.params as { allowedValue: unknown }).allowedValue] : (e.params as { allowedValues: unknown[] }).allowedValues;
      return { message: `${where} must be ${allowed.map((a) => JSON.stringify(a)).join(' or ')}; got ${show(e.data)}`, at: path, preferKey: false };
    }
    case 'oneOf':
      return undefined; // the branch errors say what is wrong
    default:
      return { message: `${where} ${e.message ?? 'is not valid'}`, at: path, preferKey: false };
  }
}

/**
 * Validates `src.value` (applying the schema's defaults to it) and returns one problem per schema
 * error, placed on the YAML node concerned.
 * @returns problems, the set of value paths (dot-joined) that had an error (so that later rules can
 * skip values already reported), and how many errors beyond the first 500 were not turned into problems.
 */
export function checkSchema(schema: CompiledSchema, src: SourceDoc): { problems: ConfigProblem[]; errorPaths: Set<string>; omitted: number } {
  const problems: ConfigProblem[] = [];
  const errorPaths = new Set<string>();
  if (schema.validate(src.value)) return { problems, errorPaths, omitted: 0 };
  // Only the first errors are turned into messages (a file shows at most MAX_PROBLEMS_PER_FILE anyway);
  // a file of thousands of unknown keys must not take thousands of lookups.
  const all = schema.validate.errors ?? [];
  const errors = all.slice(0, 500);
  const hasRequiredType = errors.some((e) => e.keyword === 'required' && e.instancePath === '' && (e.params as { missingProperty: string }).missingProperty === 'type');
  // A missing key that an unknown key of the same mapping is a near miss of is one mistake, not two:
  // only the unknown key is reported (with its "did you mean").
  const misspelt = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    const extra = String((e.params as { additionalProperty: string }).additionalProperty);
    const siblings = Object.keys(((e.parentSchema ?? {}) as JsonSchema).properties ?? {});
    const near = closest(extra, siblings);
    if (near !== undefined) misspelt.add(`${e.instancePath}/${near}`);
  }
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'discriminator' && hasRequiredType) continue;
    if (e.keyword === 'required' && misspelt.has(`${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`)) continue;
    const path = instancePath(e);
    const m = messageFor(schema, e, path);
    if (!m) continue;
    const key = `${m.at.join('\u0000')}|${m.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    errorPaths.add(path.join('.'));
    problems.push(src.problem(m.at, m.message, `schema-${e.keyword}`, { preferKey: m.preferKey }));
  }
  return { problems, errorPaths, omitted: all.length - errors.length };
}
