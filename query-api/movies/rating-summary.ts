export interface RatingSummary {
  average: number;
  count: number;
}

/**
 * The aggregated rating shown to clients: null when nobody has rated; the mean rounded to two
 * decimals, as more digits of a 1..5 mean only look precise.
 */
export function ratingSummary(count: number | null, sum: number | null): RatingSummary | null {
  if (!count || sum === null) return null;
  return { average: Math.round((sum / count) * 100) / 100, count };
}
