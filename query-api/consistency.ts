import { ValidationError } from '../shared/errors.ts';
import { decodeConsistencyToken, type LogPosition } from '../shared/events/position.ts';

/** How long a read with a consistency token may wait for the projections, by default and at most. */
export const CONSISTENCY_WAIT_MS = { default: 1000, max: 5000 };

export interface ConsistencyRequest {
  positions: LogPosition[];
  waitMs: number;
}

/**
 * What a read asks to wait for: the positions of its X-Consistency-Token, for at most
 * X-Consistency-Wait milliseconds (never more than the maximum). No token: nothing to wait for.
 */
export function consistencyRequestOf(
  token: string | string[] | undefined,
  wait: string | string[] | undefined,
): ConsistencyRequest | undefined {
  if (token === undefined) return undefined;
  const positions = typeof token === 'string' && token.length <= 4096 ? decodeConsistencyToken(token) : undefined;
  if (!positions || positions.length === 0) {
    throw new ValidationError([
      {
        field: 'X-Consistency-Token',
        message: 'is not a consistency token: send the consistencyToken a command answered, unchanged',
      },
    ]);
  }
  if (wait === undefined) return { positions, waitMs: CONSISTENCY_WAIT_MS.default };
  if (typeof wait !== 'string' || !/^[0-9]{1,4}$/.test(wait) || Number(wait) > CONSISTENCY_WAIT_MS.max) {
    throw new ValidationError([
      {
        field: 'X-Consistency-Wait',
        message: `must be a whole number of milliseconds from 0 to ${CONSISTENCY_WAIT_MS.max}`,
      },
    ]);
  }
  return { positions, waitMs: Number(wait) };
}
