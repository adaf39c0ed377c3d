import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
import { ID_PATTERN, type EventEnvelope } from '../shared/events/types.ts';

/** What a command handler is given besides the request: ids and time come from outside. */
export interface CommandContext {
  envelope: EventEnvelope;
}

export const idSchema = z.string().regex(ID_PATTERN, 'must be 1 to 64 letters, digits or ._~-');

/** Parses `input` or throws a ValidationError naming every offending field under `prefix`. */
export function parseOrThrow<T>(schema: z.ZodType<T>, input: unknown, prefix: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fieldName = (path: PropertyKey[]) => [prefix, ...path].filter((p) => p !== '').join('.') || 'body';
  throw new ValidationError(
    result.error.issues.flatMap((issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ field: fieldName([...issue.path, key]), message: 'is not a known field' }))
        : [{ field: fieldName(issue.path), message: issue.message }],
    ),
  );
}
