import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt';
import type { Algorithm } from 'fast-jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ForbiddenError, UnauthorizedError, UnavailableError } from '../shared/errors.ts';
import { USER_ID_PATTERN } from '../shared/events/types.ts';
import { createJwksKeys, JwksUnavailableError, type AsymmetricAlgorithm } from './jwks.ts';

export const ROLES = ['admin', 'user', 'provider'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  subject: string;
  roles: Role[];
}

const claimsSchema = z.object({
  sub: z.string().regex(USER_ID_PATTERN),
  roles: z.array(z.string()).transform((roles) => roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r))),
});

/** Where token signatures are checked against; one algorithm each, pinned. */
export type AuthConfig = (
  | { kind: 'secret'; secret: string }
  | { kind: 'public-key'; algorithm: AsymmetricAlgorithm; publicKey: string }
  | { kind: 'jwks'; algorithm: AsymmetricAlgorithm; jwksUrl: string }
) & { issuer?: string | undefined; audience?: string | undefined };

const JWKS_OPTIONS = { fetchTimeoutMs: 2000, minRefreshIntervalMs: 30_000 };

/**
 * Bearer tokens: HS256 with a shared secret (development, `npm run token`), or RS256/ES256
 * against a public key or an identity provider's JWKS. The algorithm is pinned, so a token
 * cannot pick a weaker one (nor HS256 with the public key as its secret); `exp` and `sub` are
 * required, `iss` and `aud` checked when configured.
 */
export async function registerAuth(app: FastifyInstance, auth: AuthConfig): Promise<void> {
  const algorithm: Algorithm = auth.kind === 'secret' ? 'HS256' : auth.algorithm;
  const verify = {
    algorithms: [algorithm],
    requiredClaims: ['exp', 'sub'],
    ...(auth.issuer ? { allowedIss: auth.issuer } : {}),
    ...(auth.audience ? { allowedAud: auth.audience } : {}),
    // Clients send the same token with many commands: a verified token is kept (until its exp)
    // instead of checking its signature again on every request.
    cache: 10_000,
  };
  if (auth.kind === 'jwks') {
    const keys = createJwksKeys(auth.jwksUrl, auth.algorithm, JWKS_OPTIONS);
    await app.register(fastifyJwt, {
      decode: { complete: true },
      // With decode.complete, the key callback is given the whole decoded token.
      secret: (_request: FastifyRequest, token: TokenOrHeader) => {
        const header: { kid?: unknown } = 'header' in token ? (token.header as { kid?: unknown }) : token;
        return keys.keyFor(header.kid);
      },
      verify,
    });
    return;
  }
  await app.register(fastifyJwt, { secret: auth.kind === 'secret' ? auth.secret : { public: auth.publicKey }, verify });
}

/** Whether a verification failed because the JWKS could not be fetched, however the library wrapped it. */
function jwksUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (e instanceof JwksUnavailableError) return true;
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Verifies the caller's token and that it holds `role`; returns who is acting. */
export async function authorize(request: FastifyRequest, role: Role): Promise<Principal> {
  if (!request.headers.authorization) throw new UnauthorizedError('A bearer token is required.');
  let claims: unknown;
  try {
    claims = await request.jwtVerify();
  } catch (err) {
    if (jwksUnavailable(err)) throw new UnavailableError('The identity provider\'s keys cannot be fetched to check the token.', 5);
    throw new UnauthorizedError('The bearer token is missing, malformed, expired or not signed by us.');
  }
  const parsed = claimsSchema.safeParse(claims);
  if (!parsed.success) throw new UnauthorizedError('The token needs a `sub` of printable characters (at most 128) and a `roles` array.');
  const principal = { subject: parsed.data.sub, roles: parsed.data.roles };
  if (!principal.roles.includes(role)) throw new ForbiddenError(`This command needs the ${role} role.`);
  return principal;
}
