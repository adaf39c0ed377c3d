import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { CatalogueError, UnavailableError } from '../shared/errors.ts';

export type AsymmetricAlgorithm = 'RS256' | 'ES256';

/** The token names a key the JWKS does not have, even after a refresh. */
export class UnknownKeyError extends CatalogueError {}

/** The JWKS could not be fetched and holds no key for the token: a dependency is down, not the token bad. */
const jwksUnavailable = (detail: string) => new UnavailableError(detail, 5, 'identity-provider');

export interface JwksOptions {
  fetchTimeoutMs: number;
  /** A token with an unknown `kid` refreshes the set at most this often (tokens are cheap to forge). */
  minRefreshIntervalMs: number;
}

const KEY_TYPE: Record<AsymmetricAlgorithm, { kty: string; crv?: string }> = {
  RS256: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
};

/**
 * The public keys of an identity provider's JWKS, by `kid`, as PEM. Fetched on first use and
 * again when a token names a key not seen yet (a rotation), at most once per interval; keys
 * already known keep verifying while the JWKS is unreachable. Only signing keys of the pinned
 * algorithm's type are taken.
 */
export function createJwksKeys(url: string, algorithm: AsymmetricAlgorithm, options: JwksOptions) {
  let keys = new Map<string, string>();
  let lastFetch = -Infinity;
  let refreshing: Promise<void> | undefined;

  async function fetchKeys(): Promise<void> {
    let body: unknown;
    try {
      const response = await fetch(url, {
        signal: AbortSignal.timeout(options.fetchTimeoutMs),
        headers: { accept: 'application/json' },
      });
      if (!response.ok) throw new Error(`answered ${response.status}`);
      body = await response.json();
    } catch (err) {
      throw jwksUnavailable(`JWKS ${url} unavailable: ${(err as Error).message}`);
    }
    const wanted = KEY_TYPE[algorithm];
    const found = new Map<string, string>();
    const listed = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(listed)) throw jwksUnavailable(`JWKS ${url} answered no "keys" array`);
    for (const jwk of listed as Array<JsonWebKey & { kid?: unknown; use?: unknown; alg?: unknown }>) {
      if (typeof jwk.kid !== 'string' || jwk.kty !== wanted.kty || (wanted.crv && jwk.crv !== wanted.crv)) continue;
      if ((jwk.use !== undefined && jwk.use !== 'sig') || (jwk.alg !== undefined && jwk.alg !== algorithm)) continue;
      try {
        found.set(
          jwk.kid,
          createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString(),
        );
      } catch {
        // A malformed key in the set makes only that key unusable.
      }
    }
    keys = found;
    // Only a fetch that answered counts against the interval: while the JWKS is down, the next
    // token that needs it asks again (one fetch in flight at a time), so recovery is immediate.
    lastFetch = performance.now();
  }

  function refresh(): Promise<void> {
    refreshing ??= fetchKeys().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  return {
    async keyFor(kid: unknown): Promise<string> {
      if (typeof kid !== 'string') throw new UnknownKeyError('the token names no key (kid)');
      const known = keys.get(kid);
      if (known) return known;
      // A failed refresh is UnavailableError (the identity provider): whether the key exists cannot be known now.
      if (performance.now() - lastFetch >= options.minRefreshIntervalMs || refreshing) await refresh();
      const key = keys.get(kid);
      if (!key) throw new UnknownKeyError(`key ${kid} is not in the JWKS`);
      return key;
    },
  };
}
