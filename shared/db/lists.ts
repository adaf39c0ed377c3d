/**
 * Bulk statements take their columns as arrays. A `text[]` parameter costs node-postgres a
 * quote-and-escape pass per element and Postgres a parse of the quoted literal, which at tens of
 * thousands of rows a batch shows in both profiles. Values that are plain tokens (ids, UUIDs,
 * integers) travel instead as one string joined by the ASCII unit separator, which no such
 * token holds, and SQL splits it with `string_to_array($n, chr(31))`. Tokens are never empty:
 * an empty list and a list of one empty string would read back alike.
 */
const SEPARATOR = '\u001f';

export function joinList(values: ReadonlyArray<string | number>): string {
  let joined = '';
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i]!;
    if (typeof value === 'string' && (value === '' || value.includes(SEPARATOR)))
      throw new Error(`List value ${JSON.stringify(value)} is not a plain token`);
    joined += i === 0 ? String(value) : SEPARATOR + String(value);
  }
  return joined;
}

/** The SQL that reads a `joinList` parameter back as an array of `type`. */
export const splitList = (parameter: number, type: 'text' | 'uuid' | 'bigint' | 'int' | 'smallint') =>
  `string_to_array($${parameter}, chr(31))::${type}[]`;
