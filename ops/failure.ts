/** Failures as a data engineer reads them. */

/** The chain of causes of a failed run (a Temporal failure wraps the activity's), outermost first, as one text. */
export function failureText(e: unknown): string {
  const msgs: string[] = [];
  let cur = e as { message?: string; cause?: unknown } | undefined;
  while (cur) {
    if (cur.message && !msgs.includes(cur.message)) msgs.push(cur.message);
    cur = cur.cause as typeof cur;
  }
  return msgs.join(': ');
}
