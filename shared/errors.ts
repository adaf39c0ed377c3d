/** Every error the system throws on purpose; each is named after its class. */
export class CatalogueError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface FieldError {
  field: string;
  message: string;
}

/**
 * The errors a request can end in. Each has a stable `code` (the problem `type` slug), an HTTP
 * status and whether retrying the same request may succeed. Domain code throws these; one
 * handler per API turns them into problem details.
 */
export class AppError extends CatalogueError {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly title: string,
    detail?: string,
    readonly retriable = false,
    readonly fields?: FieldError[],
  ) {
    super(detail ?? title);
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

/** What a request or a batch may be waiting on: Kafka, the schema registry, Postgres, the identity provider's keys. */
export type Dependency = 'kafka' | 'registry' | 'database' | 'identity-provider';

/**
 * A dependency cannot take the work now, or the request ran out of time (no dependency named);
 * the same work may succeed later. An API answers it 503 with Retry-After; a projector retries.
 */
export class UnavailableError extends AppError {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
    readonly dependency?: Dependency,
  ) {
    super('service-unavailable', 503, 'Service unavailable', detail, true);
  }
}
