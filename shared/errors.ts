/**
 * The errors a request can end in. Each has a stable `code` (the problem `type` slug), an HTTP
 * status and whether retrying the same request may succeed. Domain code throws these; one
 * handler per API turns them into problem details.
 */
export interface FieldError {
  field: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly title: string,
    detail?: string,
    readonly retriable = false,
    readonly fields?: FieldError[],
  ) {
    super(detail ?? title);
    this.name = 'AppError';
  }
}

export class ValidationError extends AppError {
  constructor(fields: FieldError[]) {
    super('validation-failed', 400, 'The request is not valid', 'One or more fields are invalid.', false, fields);
  }
}

export class UnauthorizedError extends AppError {
  constructor(detail: string) {
    super('unauthorized', 401, 'Authentication required', detail);
  }
}

export class ForbiddenError extends AppError {
  constructor(detail: string) {
    super('forbidden', 403, 'Not allowed', detail);
  }
}

export class NotFoundError extends AppError {
  constructor(detail: string) {
    super('not-found', 404, 'Not found', detail);
  }
}

/** The log or a dependency cannot take the request now; the client should retry later. */
export class UnavailableError extends AppError {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
  ) {
    super('service-unavailable', 503, 'Service unavailable', detail, true);
  }
}
