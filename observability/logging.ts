/**
 * The worker's logs: JSON lines (one object per line: `level`, `time` ISO 8601 UTC, `msg`, fields),
 * written with pino. Temporal's own logs (the SDK, workflow and activity `log` calls, and the native
 * core's logs when forwarded) go through the same logger via `TemporalJsonLogger`.
 *
 * Secrets never reach the output: fields named like credentials are redacted, and every line is
 * scrubbed of the secret values the process knows (the Klaviyo and Temporal API keys, the TLS key
 * text, and the values of environment variables the warehouse connection names) before it is written.
 */
import { pino, stdSerializers, type Logger as Pino, type DestinationStream } from 'pino';
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { PageInput, PageResult } from '../activities/types.ts';

/** Replacement text for a secret. */
export const REDACTED = '[REDACTED]';

/** Field paths whose values are always redacted, whatever they hold. */
const REDACT_PATHS = ['apiKey', '*.apiKey', 'api_key', '*.api_key', 'password', '*.password', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'privateKey', '*.privateKey'];

/**
 * The secret values a process knows from its environment: the Klaviyo and Temporal API keys, TLS key
 * text, and the variables the warehouse connection names (`extraVars`). Values shorter than 6
 * characters are ignored (too likely to collide with ordinary text).
 */
export function secretValues(env: NodeJS.ProcessEnv = process.env, extraVars: string[] = []): string[] {
  const names = ['KLAVIYO_API_KEY', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS_CLIENT_KEY_DATA', ...extraVars];
  const out = new Set<string>();
  for (const n of names) {
    const v = env[n];
    if (v && v.length >= 6) out.add(v);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** Replaces every occurrence of each secret (and its JSON-escaped form) in `text`. */
export function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) {
    out = out.split(s).join(REDACTED);
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s) out = out.split(escaped).join(REDACTED);
  }
  return out;
}

/** Options of the JSON logger. */
export interface JsonLoggerOptions {
  /** Lowest level written: trace, debug, info, warn, error. Default info. */
  level?: string;
  /** Secret values to scrub from every line. */
  secrets?: string[];
  /** Where lines go; default stdout (synchronous writes, nothing lost at exit). */
  destination?: DestinationStream;
}

/** A pino logger writing JSON lines. */
export function createJsonLogger(opts: JsonLoggerOptions = {}): Pino {
  const secrets = opts.secrets ?? [];
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'dwh-import' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: stdSerializers.err, error: stdSerializers.err, failure: stdSerializers.err },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      ...(secrets.length ? { hooks: { streamWrite: (s: string) => scrub(s, secrets) } } : {}),
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Temporal's `Logger` interface on top of a pino logger (for `Runtime.install({ logger })`). */
export class TemporalJsonLogger implements Logger {
  constructor(private readonly out: Pino) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const fn = LEVELS[level] ?? 'info';
    if (meta && Object.keys(meta).length) this.out[fn]({ ...meta }, message);
    else this.out[fn](message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/**
 * An activity interceptor that logs one line per page (`page loaded`: sync, counts, duration, the
 * new watermark) and per failed attempt (`page failed`, with the attempt number). Counts and cursors
 * only: rows never reach the log.
 */
export function activityLogInterceptor(log: Pino): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      execute: async (input, next) => {
        if (ctx.info.activityType !== 'loadPage') return next(input);
        const p = input.args[0] as PageInput;
        const base = { sync: p.sync.name, stateKey: p.stateKey, workflowId: ctx.info.workflowExecution?.workflowId, runId: p.runId, attempt: ctx.info.attempt };
        const started = Date.now();
        try {
          const r = (await next(input)) as PageResult;
          log.info(
            {
              ...base,
              rowsRead: r.rowsRead,
              eventsAccepted: r.eventsAccepted,
              rejected: r.rejected,
              identifiersDropped: r.warnings,
              requests: r.requests,
              throttled: r.throttled,
              ms: Date.now() - started,
              watermark: r.watermark,
              done: r.done,
            },
            'page loaded',
          );
          return r;
        } catch (e) {
          log.warn({ ...base, ms: Date.now() - started, error: e }, 'page failed');
          throw e;
        }
      },
    },
  });
}
