/**
 * Reading a configuration file safely and parsing it as YAML with source positions.
 *
 * Hostile or broken input becomes problems, never a crash or a hang: files over `MAX_FILE_BYTES` are
 * refused before they are read, bytes that are not UTF-8 are reported at their line and column,
 * alias expansion is bounded (a "billion laughs" document stops at `MAX_ALIAS_COUNT`), duplicate keys,
 * tabs used as indentation, several documents in one file and unsupported YAML features (tags, complex
 * keys, merge keys) each get their own message.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  Scalar,
  type Document,
  type Pair,
  type YAMLMap,
  type Node,
  type ParsedNode,
} from 'yaml';
import type { ConfigProblem, Severity } from './problems.ts';

/**
 * Largest configuration file read (bytes). A sync file is a few kilobytes; 64 KiB leaves ample room
 * and bounds the time one file takes to parse (the YAML parser needs about 1 s per MiB).
 */
export const MAX_FILE_BYTES = 64 * 1024;
/** Deepest nesting of flow collections (`[` / `{`) accepted before parsing; a sync file needs 3. */
export const MAX_FLOW_DEPTH = 64;
/** Alias expansions allowed when building the value (yaml's `maxAliasCount`). */
export const MAX_ALIAS_COUNT = 100;

/** A path into the parsed value: keys of mappings and indexes of sequences. */
export type ValuePath = (string | number)[];

/** A 1-based line and column. */
export interface Position {
  line: number;
  column: number;
}

/**
 * One parsed YAML document and the means to find the source position of any value in it.
 * `value` is the plain JS value (mappings as objects) the schema is checked against.
 */
export class SourceDoc {
  constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: Document.Parsed,
    readonly lines: LineCounter,
    readonly value: unknown,
  ) {}

  private readonly keyIndex = new WeakMap<object, Map<string, Pair>>();

  /** The pairs of a mapping by key (the last pair with a key wins, as in the parsed value). */
  private pairs(map: YAMLMap): Map<string, Pair> {
    let idx = this.keyIndex.get(map);
    if (!idx) {
      idx = new Map();
      for (const p of map.items) if (isScalar(p.key)) idx.set(String(p.key.value), p as Pair);
      this.keyIndex.set(map, idx);
    }
    return idx;
  }

  /** The node at `path`, the key node of its last step, and how many steps of `path` were found. */
  nodeAt(path: ValuePath): { node: Node | null; keyNode: Node | null; depth: number } {
    let node: unknown = this.doc.contents;
    let keyNode: Node | null = null;
    let depth = 0;
    for (const part of path) {
      if (isMap(node)) {
        const pair = this.pairs(node).get(String(part));
        if (!pair) break;
        keyNode = pair.key as Node;
        node = pair.value;
      } else if (isSeq(node)) {
        const item = node.items[Number(part)];
        if (item === undefined) break;
        keyNode = null;
        node = item;
      } else break;
      depth++;
    }
    return { node: (node as Node) ?? null, keyNode, depth };
  }

  /** True when every step of `path` exists in the document. */
  has(path: ValuePath): boolean {
    return this.nodeAt(path).depth === path.length;
  }

  /**
   * Position of the value at `path` (or of its key when `preferKey`), falling back to the deepest
   * ancestor that exists; the start of the document when nothing does.
   */
  pos(path: ValuePath, preferKey = false): Position {
    const { node, keyNode, depth } = this.nodeAt(path);
    let target: Node | null;
    if (depth < path.length) target = keyNode ?? node; // missing: point at the nearest existing parent key
    else target = preferKey && keyNode ? keyNode : (node ?? keyNode);
    return this.offsetPos(target?.range?.[0] ?? 0);
  }

  /**
   * Position of the character `offset` characters into the string value at `path`, when that string is
   * written on one line without escapes (plain or quoted); otherwise the value's own position.
   */
  posInString(path: ValuePath, offset: number, token: string): Position {
    const { node, depth } = this.nodeAt(path);
    if (depth === path.length && isScalar(node) && node.range) {
      const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
      const start = node.range[0] + (quoted ? 1 : 0) + offset;
      if (this.text.slice(start, start + token.length) === token) return this.offsetPos(start);
    }
    return this.pos(path);
  }

  /** 1-based position of a character offset in the text. */
  offsetPos(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /** A problem at the value of `path` (or its key). */
  problem(path: ValuePath, message: string, code: string, opts: { preferKey?: boolean; severity?: Severity } = {}): ConfigProblem {
    const p: ConfigProblem = { file: this.file, ...this.pos(path, opts.preferKey), message, code };
    if (opts.severity === 'warning') p.severity = 'warning';
    return p;
  }
}

/**
 * Reads a file as UTF-8 text, refusing what cannot be a configuration file.
 * @returns the text (a leading byte order mark removed), or the problems that stop it being read.
 */
export function readConfigFile(file: string): { text: string } | { problems: ConfigProblem[] } {
  const at = (message: string, code: string, line = 1, column = 1): { problems: ConfigProblem[] } => ({
    problems: [{ file, line, column, message, code }],
  });
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return at('no such file', 'file');
    if (err.code === 'EISDIR') return at('is a folder, not a file', 'file');
    return at(`cannot read the file: ${err.code ?? err.message}`, 'file');
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return at('is a folder, not a file', 'file');
    if (!st.isFile()) return at('is not a regular file', 'file');
    if (st.size > MAX_FILE_BYTES) {
      return at(`the file is ${formatBytes(st.size)}; a configuration file may be at most ${LIMIT_TEXT}`, 'file-size');
    }
    // Read at most one byte more than the limit, in case the file grew since fstat.
    const buf = Buffer.alloc(Math.min(st.size, MAX_FILE_BYTES) + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n === buf.length) break;
    }
    if (n > MAX_FILE_BYTES) return at(`the file is over ${LIMIT_TEXT}, the most a configuration file may be`, 'file-size');
    return decodeConfigBytes(file, buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

function formatBytes(n: number): string {
  return `${n.toLocaleString('en-US')} bytes`;
}

const LIMIT_TEXT = `${formatBytes(MAX_FILE_BYTES)} (${MAX_FILE_BYTES / 1024} KiB)`;

/**
 * Decodes bytes as UTF-8 (strictly). A UTF-8 byte order mark is dropped; UTF-16 text and invalid
 * bytes are problems naming the line, column and byte offset of the first bad byte.
 */
export function decodeConfigBytes(file: string, bytes: Uint8Array): { text: string } | { problems: ConfigProblem[] } {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return { problems: [{ file, line: 1, column: 1, message: 'the file is UTF-16 encoded; save it as UTF-8', code: 'encoding' }] };
  }
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  const body = bytes.subarray(start);
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(body) };
  } catch {
    const bad = firstInvalidUtf8(body);
    let lineStart = 0;
    let line = 1;
    for (let i = 0; i < bad; i++) {
      if (body[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    // Everything before `bad` is valid UTF-8: its decoded length is the column (in UTF-16 units, as editors count).
    const column = new TextDecoder('utf-8').decode(body.subarray(lineStart, bad)).length + 1;
    const byte = body[bad];
    const hex = byte === undefined ? 'end of file' : `byte 0x${byte.toString(16).padStart(2, '0').toUpperCase()}`;
    return {
      problems: [
        {
          file,
          line,
          column,
          message: `not valid UTF-8 text: ${hex} at byte offset ${bad + start} (a Latin-1 or Windows-1252 file?); save the file as UTF-8`,
          code: 'encoding',
        },
      ],
    };
  }
}

/**
 * Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or `bytes.length` when all of it is well formed.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      // A cut-short or broken sequence: the lead byte is where the text stops being UTF-8.
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return n;
}

const YAML_MESSAGES: Record<string, string> = {
  TAB_AS_INDENT: 'a tab is used for indentation; YAML indents with spaces only',
  MULTIPLE_DOCS: 'a second YAML document starts here ("---"); a file holds exactly one document: put each sync in its own file',
  RESOURCE_EXHAUSTION: 'the YAML is nested too deeply to be read',
};

/**
 * Parses YAML text into a `SourceDoc`.
 * @returns the document, or undefined when it cannot be used (the reasons are pushed to `problems`).
 */
export function parseYamlSource(file: string, text: string, problems: ConfigProblem[]): SourceDoc | undefined {
  const lines = new LineCounter();
  let doc: Document.Parsed;
  const add = (offset: number, message: string, code: string) => {
    const p = lines.linePos(offset);
    problems.push({ file, line: p.line, column: p.col, message, code });
  };
  const deep = flowDepthExceeded(text, MAX_FLOW_DEPTH);
  if (deep !== undefined) {
    lines.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0 && i < deep; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
    add(deep, `the YAML is nested more than ${MAX_FLOW_DEPTH} levels deep; a configuration file needs a few`, 'yaml-depth');
    return undefined;
  }
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, strict: true });
  } catch (e) {
    // yaml reports problems as document errors; anything thrown is unexpected, but still only a problem.
    problems.push({ file, line: 1, column: 1, message: `YAML cannot be read: ${(e as Error).message.split('\n')[0]}`, code: 'yaml-syntax' });
    return undefined;
  }
  const seenLines = new Set<number>();
  for (const err of doc.errors) {
    let offset = err.pos?.[0] ?? 0;
    let message = YAML_MESSAGES[err.code] ?? `YAML syntax: ${err.message.split('\n')[0]}`;
    const quote = err.code === 'MISSING_CHAR' && /closing (["'])quote/.exec(err.message)?.[1];
    if (quote) {
      // The parser notices at the end of the file; the mistake is where the string opens.
      const open = text.lastIndexOf(quote, offset - 1);
      if (open >= 0) offset = open;
      message = `this quoted string is never closed: add the closing ${quote}`;
    }
    const line = lines.linePos(offset).line;
    if (seenLines.has(line)) continue; // one message per line: the first names the cause, the rest follow from it
    seenLines.add(line);
    add(offset, message, err.code === 'MULTIPLE_DOCS' ? 'yaml-multiple-documents' : 'yaml-syntax');
  }
  if (doc.errors.length) return undefined;
  const before = problems.length;
  checkNodes(file, doc, lines, problems);
  if (problems.length > before) return undefined;
  if (doc.contents === null) {
    problems.push({ file, line: 1, column: 1, message: 'the file is empty: it holds no YAML content', code: 'empty' });
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const msg = (e as Error).message;
    const unresolved = /Unresolved alias.*: (.+)$/.exec(msg.split('\n')[0]);
    const node = firstAlias(doc, unresolved?.[1]);
    const p = lines.linePos(node?.range?.[0] ?? 0);
    let message = `YAML cannot be read: ${msg.split('\n')[0]}`;
    if (unresolved) message = `alias "*${unresolved[1]}" refers to no anchor "&${unresolved[1]}" defined before it`;
    else if (/alias count/i.test(msg)) {
      message = `YAML aliases expand to too much data (more than ${MAX_ALIAS_COUNT} alias expansions, as in a "billion laughs" document); write the values out instead`;
    }
    problems.push({ file, line: p.line, column: p.col, message, code: 'yaml-alias' });
    return undefined;
  }
  return new SourceDoc(file, text, doc, lines, value);
}

/**
 * Offset of the first `[` or `{` nested deeper than `limit` flow collections, or undefined. A cheap
 * scan before parsing (the parser recurses per level); comments and quoted strings are skipped.
 */
export function flowDepthExceeded(text: string, limit: number): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x23 /* # */ && (i === 0 || /\s/.test(text[i - 1]))) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else if (c === 0x22 /* " */ && depth > 0) {
      // Inside flow collections a double quote always starts a quoted scalar.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > limit) return i;
    } else if ((c === 0x5d /* ] */ || c === 0x7d) /* } */ && depth > 0) depth--;
  }
  return undefined;
}

/** The first alias node of the document (named `name`, when given), in document order. */
function firstAlias(doc: Document, name?: string): Node | undefined {
  const stack: unknown[] = [doc.contents];
  while (stack.length) {
    const n = stack.pop();
    if (isAlias(n) && (name === undefined || n.source === name)) return n;
    if (isCollection(n)) {
      for (let i = n.items.length - 1; i >= 0; i--) {
        const it = n.items[i];
        if (isPair(it)) stack.push(it.value, it.key);
        else stack.push(it);
      }
    }
  }
  return undefined;
}

/**
 * Checks what a parser accepts but a configuration file must not contain: duplicate keys (the first
 * occurrence is named), keys that are not plain scalars, merge keys, explicit tags. Iterative, so a
 * deeply nested document cannot overflow the stack here.
 */
function checkNodes(file: string, doc: Document, lines: LineCounter, problems: ConfigProblem[]): void {
  const at = (node: { range?: [number, number, number] | null } | null | undefined, message: string, code: string) => {
    const p = lines.linePos(node?.range?.[0] ?? 0);
    problems.push({ file, line: p.line, column: p.col, message, code });
  };
  const stack: { node: unknown; path: string[] }[] = [{ node: doc.contents, path: [] }];
  let reported = 0;
  while (stack.length && reported < 50) {
    const { node: n, path } = stack.pop() as { node: ParsedNode | null | undefined; path: string[] };
    if (!n) continue;
    if (!isAlias(n) && n.tag && n.tag.startsWith('!')) {
      at(n, `YAML tag "${n.tag}" is not supported in configuration files`, 'yaml-tag');
      reported++;
    }
    if (isMap(n)) {
      const first = new Map<string, Node>();
      for (const pair of n.items) {
        const key = pair.key as ParsedNode | null;
        if (key !== null && !isScalar(key)) {
          if (reported++ < 50) at(key, 'keys must be plain names; this key is a list or mapping', 'yaml-complex-key');
          continue;
        }
        const name = key === null ? '' : String(key.value);
        if (name === '<<' && reported++ < 50) at(key, 'merge keys ("<<") are not supported: write the keys out', 'yaml-merge-key');
        const prev = first.get(name);
        if (prev) {
          if (reported++ < 50) {
            const p = lines.linePos(prev.range?.[0] ?? 0);
            const full = [...path, name].join('.');
            const field = path[0] === 'mapping' || path[0] === 'metric' ? '; a field takes one column' : '';
            at(key, `${full} is given twice (first at line ${p.line}, column ${p.col})${field}: keep one`, 'duplicate-key');
          }
        } else if (key) first.set(name, key);
      }
      for (let i = n.items.length - 1; i >= 0; i--) {
        const k = n.items[i].key;
        stack.push({ node: n.items[i].value, path: [...path, isScalar(k) ? String(k.value) : '?'] });
      }
    } else if (isSeq(n)) {
      for (let i = n.items.length - 1; i >= 0; i--) stack.push({ node: n.items[i], path: [...path, String(i)] });
    }
  }
}
