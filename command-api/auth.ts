import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt';
import type { Algorithm } from 'fast-jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ForbiddenError, UnauthorizedError, UnavailableError } from '../shared/errors.ts';
import { USER_ID_PATTERN } from '../shared/events/types.ts';
import { createJwksKeys, type AsymmetricAlgorithm } from './jwks.ts';

export const ROLES = ['admin', 'user', 'provider'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  subject: string;
  roles: Role[];
}

const claimsSchema = z.object({
  sub: z.string().regex(USER_ID_PATTERN),
  exp: z.number(),
  roles: z
    .array(z.string())
    .transform((roles) => roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r))),
});

/** Where token signatures are checked against; one algorithm each, pinned. */
export type AuthConfig = (
  | { kind: 'secret'; secret: string }
  | { kind: 'public-key'; algorithm: AsymmetricAlgorithm; publicKey: string }
  | { kind: 'jwks'; algorithm: AsymmetricAlgorithm; jwksUrl: string }
) & { issuer?: string | undefined; audience?: string | undefined };

const JWKS_OPTIONS = { fetchTimeoutMs: 2000, minRefreshIntervalMs: 30_000 };

/** Verifies the caller's token and that it holds `role`; returns who is acting. */
export type Authorize = (request: FastifyRequest, role: Role) => Promise<Principal>;

/** How many verified tokens are kept; past it, the oldest goes. */
const VERIFIED_TOKENS = 10_000;

/**
 * Bearer tokens: HS256 with a shared secret (development, `npm run token`), or RS256/ES256
 * against a public key or an identity provider's JWKS. The algorithm is pinned, so a token
 * cannot pick a weaker one (nor HS256 with the public key as its secret); `exp` and `sub` are
 * required, `iss` and `aud` checked when configured.
 */
export async function registerAuth(app: FastifyInstance, auth: AuthConfig): Promise<Authorize> {
  await registerVerifier(app, auth);
  // Clients send the same token with many commands: the principal of a verified token is kept,
  // by the token's exact text, until its exp, instead of decoding, checking and parsing it again
  // on every request (about a tenth of a rating's cost). Only verified tokens are kept.
  const verified = new Map<string, { principal: Principal; expiresAtMs: number }>();
  return async (request, role) => {
    const header = request.headers.authorization;
    if (!header) throw new UnauthorizedError('A bearer token is required.');
    let known = verified.get(header);
    if (known && known.expiresAtMs <= Date.now()) {
      verified.delete(header);
      known = undefined;
    }
    if (!known) {
      known = await verifiedPrincipal(request);
      if (verified.size >= VERIFIED_TOKENS) verified.delete(verified.keys().next().value!);
      verified.set(header, known);
    }
    if (!known.principal.roles.includes(role)) throw new ForbiddenError(`This command needs the ${role} role.`);
    return known.principal;
  };
}

async function registerVerifier(app: FastifyInstance, auth: AuthConfig): Promise<void> {
  const algorithm: Algorithm = auth.kind === 'secret' ? 'HS256' : auth.algorithm;
  const verify = {
    algorithms: [algorithm],
    requiredClaims: ['exp', 'sub'],
    ...(auth.issuer ? { allowedIss: auth.issuer } : {}),
    ...(auth.audience ? { allowedAud: auth.audience } : {}),
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
function identityProviderDown(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (e instanceof UnavailableError && e.dependency === 'identity-provider') return true;
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The principal of the request's token, and when the token expires; refuses a token it cannot verify. */
async function verifiedPrincipal(request: FastifyRequest): Promise<{ principal: Principal; expiresAtMs: number }> {
  let claims: unknown;
  try {
    claims = await request.jwtVerify();
  } catch (err) {
    if (identityProviderDown(err))
      throw new UnavailableError(
        "The identity provider's keys cannot be fetched to check the token.",
        5,
        'identity-provider',
      );
    throw new UnauthorizedError('The bearer token is missing, malformed, expired or not signed by us.');
  }
  const parsed = claimsSchema.safeParse(claims);
  if (!parsed.success)
    throw new UnauthorizedError('The token needs a `sub` of printable characters (at most 128) and a `roles` array.');
  return { principal: { subject: parsed.data.sub, roles: parsed.data.roles }, expiresAtMs: parsed.data.exp * 1000 };
}
