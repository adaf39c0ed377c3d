/**
 * An event that can never be applied, however often it is retried: undecodable bytes, an
 * unknown schema, invalid values, or a type its projection does not handle. Everything else
 * that goes wrong while projecting is presumed transient.
 */
export class PermanentEventError extends Error {
  override name = 'PermanentEventError';
}

export class UndecodableEventError extends PermanentEventError {
  override name = 'UndecodableEventError';
}

export class InvalidEventError extends PermanentEventError {
  override name = 'InvalidEventError';
}

export class UnexpectedEventError extends PermanentEventError {
  override name = 'UnexpectedEventError';
}

/** The schema registry could not be asked; the same message may decode fine later. */
export class RegistryUnavailableError extends Error {
  override name = 'RegistryUnavailableError';
}
