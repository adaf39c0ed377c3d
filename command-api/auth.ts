import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ForbiddenError, UnauthorizedError } from '../shared/errors.ts';
import { USER_ID_PATTERN } from '../shared/events/types.ts';

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

/** HS256 bearer tokens, algorithm pinned and `exp` required. */
export async function registerAuth(app: FastifyInstance, secret: string): Promise<void> {
  await app.register(fastifyJwt, {
    secret,
    sign: { algorithm: 'HS256' },
    // Clients send the same token with many commands: a verified token is kept (until its exp)
    // instead of checking its signature again on every request.
    verify: { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'], cache: 10_000 },
  });
}

/** Verifies the caller's token and that it holds `role`; returns who is acting. */
export async function authorize(request: FastifyRequest, role: Role): Promise<Principal> {
  if (!request.headers.authorization) throw new UnauthorizedError('A bearer token is required.');
  let claims: unknown;
  try {
    claims = await request.jwtVerify();
  } catch {
    throw new UnauthorizedError('The bearer token is missing, malformed, expired or not signed by us.');
  }
  const parsed = claimsSchema.safeParse(claims);
  if (!parsed.success) throw new UnauthorizedError('The token needs a `sub` of printable characters (at most 128) and a `roles` array.');
  const principal = { subject: parsed.data.sub, roles: parsed.data.roles };
  if (!principal.roles.includes(role)) throw new ForbiddenError(`This command needs the ${role} role.`);
  return principal;
}
