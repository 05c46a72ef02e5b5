/**
 * Errors the loader throws. None of them carries the API key: messages are built from status codes and
 * the API's own error details only.
 */

/** The API refused the credentials (401) or their scope (403): retrying will not help. */
export class KlaviyoAuthError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(
      status === 401
        ? `Klaviyo refused the API key (HTTP 401): check that KLAVIYO_API_KEY holds a valid private key (pk_...) of the intended account.${detail ? ` Klaviyo said: ${detail}` : ''}`
        : `Klaviyo refused the request (HTTP 403): the API key lacks the events:write scope; give the key that scope or use a full-access private key.${detail ? ` Klaviyo said: ${detail}` : ''}`,
    );
    this.name = 'KlaviyoAuthError';
  }
}

/**
 * The request as a whole was refused for a reason no event is to blame for (a header, the revision, an
 * unknown endpoint, a body that is not JSON), or every event tried alone (10 or more) was refused without
 * a pointer while none was accepted.
 * `retryable` is false when sending again cannot help.
 */
export class KlaviyoRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'KlaviyoRequestError';
  }
}

/** Waiting (rate limit, Retry-After, backoff) would run past the time the loader was given; the page is retried later. */
export class LoadDeadlineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadDeadlineError';
  }
}
