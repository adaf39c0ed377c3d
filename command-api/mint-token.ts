import { createSigner } from 'fast-jwt';

/** An HS256 token as the command API expects it: `sub`, `roles`, and an `exp` `ttlSeconds` ahead. */
export function mintToken(secret: string, claims: { sub: string; roles: string[] }, ttlSeconds: number): string {
  return createSigner({ key: secret, algorithm: 'HS256', expiresIn: ttlSeconds * 1000 })(claims);
}
