/**
 * Problems found in configuration files, and how they are printed. Every problem names its file and the
 * 1-based line and column of the YAML node it is about, so editors and CI annotators can point at it.
 */

/** `error` makes a file unusable (validate exits non-zero); `warning` is printed but changes nothing. */
export type Severity = 'error' | 'warning';

/** One problem found in a configuration file; `line`/`column` are 1-based positions in the file. */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  message: string;
  /** Default `error`. */
  severity?: Severity;
  /**
   * Stable identifier of the rule that found the problem (e.g. `unknown-key`, `cron`, `yaml-syntax`),
   * for CI filters and tests. Absent on problems built by older code.
   */
  code?: string;
}

/** Raised when a configuration file cannot be used; `problems` lists every problem found (errors first). */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

/**
 * `file:line:column: message`, the format editors and CI annotators understand; warnings read
 * `file:line:column: warning: message`.
 */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;
}

/** True when the problem is an error (the default severity). */
export function isError(p: ConfigProblem): boolean {
  return p.severity !== 'warning';
}

/** Orders problems by file, line, column (stable for equal positions). */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.file < b.p.file ? -1 : a.p.file > b.p.file ? 1 : 0) || a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
    .map((x) => x.p);
}
