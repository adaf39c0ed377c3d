import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { CatalogueError } from '../errors.ts';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Key ids are lowercase UUIDs, as `randomUUID` makes them and the key store's uuid column gives them back. */
const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** One subject's data key: whoever holds it can read that subject's personal fields. */
export interface DataKey {
  keyId: string;
  key: Buffer;
}

/**
 * A personal field as the log keeps it: encrypted under its subject's data key with AES-256-GCM,
 * naming the key. Once the key is destroyed, nothing can read it back.
 */
export interface SealedField {
  keyId: string;
  nonce: Buffer;
  /** The ciphertext followed by GCM's 16-byte tag. */
  sealed: Buffer;
}

/** What opening a sealed field gives: its value, or that its subject is forgotten. */
export type Opened = { kind: 'open'; value: string } | { kind: 'forgotten' };

/** A sealed field that no key could ever open: a malformed record, not a forgotten subject. */
export class MalformedFieldError extends CatalogueError {}

/** A new subject's data key: 32 random bytes under a random id. */
export function newDataKey(): DataKey {
  return { keyId: randomUUID(), key: randomBytes(KEY_BYTES) };
}

/**
 * Encrypts `value` under the subject's key, bound to `context` (the event id and the field's
 * name): a sealed field copied into another event or field does not open there.
 */
export function sealField({ keyId, key }: DataKey, value: string, context: string): SealedField {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, nonce).setAAD(Buffer.from(context));
  const sealed = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { keyId, nonce, sealed };
}

/**
 * Decrypts a sealed field with its subject's key, when `keyOf` still has it. A destroyed key, a
 * key that is not the one it was sealed with, or bytes that fail GCM's check all mean the same to
 * a reader, that the subject is forgotten: never an exception that would dead-letter the event.
 */
export function openField(field: SealedField, keyOf: (keyId: string) => Buffer | undefined, context: string): Opened {
  if (!KEY_ID.test(field.keyId) || field.nonce.length !== NONCE_BYTES || field.sealed.length < TAG_BYTES)
    throw new MalformedFieldError(
      `A sealed field needs a UUID key id, a ${NONCE_BYTES}-byte nonce and at least ${TAG_BYTES} bytes of ciphertext and tag`,
    );
  const key = keyOf(field.keyId);
  if (!key) return { kind: 'forgotten' };
  const decipher = createDecipheriv(ALGORITHM, key, field.nonce)
    .setAAD(Buffer.from(context))
    .setAuthTag(field.sealed.subarray(-TAG_BYTES));
  try {
    const plain = Buffer.concat([decipher.update(field.sealed.subarray(0, -TAG_BYTES)), decipher.final()]);
    return { kind: 'open', value: plain.toString('utf8') };
  } catch {
    return { kind: 'forgotten' };
  }
}

/**
 * A keyed hash of a subject's id, for records that must find a subject without holding its id in
 * clear (the key store, the erasure record). Without the secret, it cannot be recomputed from a
 * guessed id.
 */
export function subjectHash(secret: string, subject: string): string {
  return createHmac('sha256', secret).update(subject).digest('hex');
}
