import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MalformedFieldError,
  newDataKey,
  openField,
  sealField,
  subjectHash,
  type DataKey,
  type SealedField,
} from '../../shared/privacy/sealed-field.ts';

const CONTEXT = '01a25354-cd72-7f57-9e80-61ac1d60f7b9 userId';
const ringOf =
  (...keys: DataKey[]) =>
  (keyId: string) =>
    keys.find((k) => k.keyId === keyId)?.key;

describe('sealed personal fields', () => {
  it('open to their value with the subject key, and hold nothing of it in clear', () => {
    const alice = newDataKey();
    const field = sealField(alice, 'alice', CONTEXT);
    assert.equal(field.keyId, alice.keyId);
    assert.equal(field.nonce.length, 12);
    assert.ok(!field.sealed.includes(Buffer.from('alice')));
    assert.deepEqual(openField(field, ringOf(alice), CONTEXT), { kind: 'open', value: 'alice' });
    // Unicode survives, and a fresh nonce makes every sealing of one value different.
    const again = sealField(alice, 'zoë-😀', CONTEXT);
    assert.notDeepEqual(again.sealed, sealField(alice, 'zoë-😀', CONTEXT).sealed);
    assert.deepEqual(openField(again, ringOf(alice), CONTEXT), { kind: 'open', value: 'zoë-😀' });
  });

  it('read as forgotten once the key is destroyed', () => {
    const alice = newDataKey();
    const field = sealField(alice, 'alice', CONTEXT);
    assert.deepEqual(openField(field, ringOf(), CONTEXT), { kind: 'forgotten' });
  });

  it('read as forgotten, never an exception, under a key that is not theirs', () => {
    const alice = newDataKey();
    const field = sealField(alice, 'alice', CONTEXT);
    const impostor = { keyId: alice.keyId, key: newDataKey().key };
    assert.deepEqual(openField(field, ringOf(impostor), CONTEXT), { kind: 'forgotten' });
  });

  it('do not open in another event or field, nor once a byte has changed', () => {
    const alice = newDataKey();
    const field = sealField(alice, 'alice', CONTEXT);
    const keys = ringOf(alice);
    assert.deepEqual(openField(field, keys, `${CONTEXT.split(' ')[0]} principal`), { kind: 'forgotten' });
    const flipped = (bytes: Buffer, at: number) => {
      const copy = Buffer.from(bytes);
      copy[at]! ^= 1;
      return copy;
    };
    const tampered: SealedField[] = [
      { ...field, sealed: flipped(field.sealed, 0) },
      { ...field, sealed: flipped(field.sealed, field.sealed.length - 1) },
      { ...field, nonce: flipped(field.nonce, 0) },
    ];
    for (const bad of tampered) assert.deepEqual(openField(bad, keys, CONTEXT), { kind: 'forgotten' });
  });

  it('refuse a shape no key could ever open, as a malformed record', () => {
    const alice = newDataKey();
    const field = sealField(alice, 'alice', CONTEXT);
    const keys = ringOf(alice);
    assert.throws(() => openField({ ...field, nonce: field.nonce.subarray(1) }, keys, CONTEXT), MalformedFieldError);
    assert.throws(() => openField({ ...field, keyId: 'not-a-key' }, keys, CONTEXT), MalformedFieldError);
    assert.throws(
      () => openField({ ...field, sealed: field.sealed.subarray(0, 15) }, keys, CONTEXT),
      MalformedFieldError,
    );
  });
});

describe('subjectHash', () => {
  it('finds a subject again under the same secret, differs under another, and holds no clear id', () => {
    const once = subjectHash('secret-one-that-is-long-enough', 'alice');
    assert.equal(once, subjectHash('secret-one-that-is-long-enough', 'alice'));
    assert.notEqual(once, subjectHash('secret-two-that-is-long-enough', 'alice'));
    assert.notEqual(once, subjectHash('secret-one-that-is-long-enough', 'alicf'));
    assert.match(once, /^[0-9a-f]{64}$/);
  });
});
