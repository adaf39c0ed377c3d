import type { z } from 'zod';
import { ValidationError } from './errors.ts';

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
