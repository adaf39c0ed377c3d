import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventEnvelope, MovieMetadataSet, RatingDeleted, RatingSubmitted } from '../../shared/events/types.ts';
import {
  FORGOTTEN_PRINCIPAL,
  sealEvent,
  subjectsOf,
  unsealEvent,
  type SealedEvent,
} from '../../shared/privacy/personal-fields.ts';
import { newDataKey, type DataKey } from '../../shared/privacy/sealed-field.ts';
import { USER_ID_PATTERN } from '../../shared/events/types.ts';

/** Subjects' keys as a key store holds them; forgetting deletes one. */
class Keys {
  private readonly bySubject = new Map<string, DataKey>();
  private readonly erased = new Set<string>();
  keyFor = (subject: string): DataKey => {
    let key = this.bySubject.get(subject);
    if (!key) this.bySubject.set(subject, (key = newDataKey()));
    return key;
  };
  forget(subject: string): void {
    this.bySubject.delete(subject);
    this.erased.add(subject);
  }
  readonly reader = {
    keyOf: (keyId: string) => [...this.bySubject.values()].find((k) => k.keyId === keyId)?.key,
    isForgotten: (subject: string) => this.erased.has(subject),
  };
}

let n = 0;
const envelope = (principal: string): EventEnvelope => ({
  eventId: `01a25354-cd72-7f57-9e80-61ac1d60f${String(100 + n++).padStart(3, '0')}`,
  occurredAt: new Date('2026-12-08T00:00:00Z'),
  principal,
  correlationId: 'c-1',
});
const rating = (userId: string, principal = userId): RatingSubmitted => ({
  type: 'RatingSubmitted',
  envelope: envelope(principal),
  recordType: 'movie',
  recordId: 'tt0111161',
  userId,
  value: 4,
  providerId: principal === userId ? null : 'acme',
});
const withdrawal = (userId: string): RatingDeleted => ({
  type: 'RatingDeleted',
  envelope: envelope(userId),
  recordType: 'movie',
  recordId: 'tt0111161',
  userId,
});
const metadata = (admin: string): MovieMetadataSet => ({
  type: 'MovieMetadataSet',
  envelope: envelope(admin),
  movieId: 'tt0111161',
  title: 'The Shawshank Redemption',
  description: '',
  director: 'Frank Darabont',
  year: 1994,
  actors: [],
  expectedVersion: null,
});

/** Every string and byte of a sealed event, to search for an id in clear. */
const bytesOf = (event: SealedEvent) =>
  Buffer.from(
    JSON.stringify(event, (_, v: unknown) => (v instanceof Buffer ? v.toString('latin1') : v)),
    'latin1',
  );

describe('personal fields of an event', () => {
  it('are sealed under each subject key, hold no id in clear, and unseal to the same event', () => {
    const keys = new Keys();
    for (const event of [rating('alice'), withdrawal('alice'), metadata('admin-ada-7'), rating('bob', 'provider-1')]) {
      const sealed = sealEvent(event, keys.keyFor);
      for (const subject of subjectsOf(event)) assert.ok(!bytesOf(sealed).includes(subject), subject);
      assert.deepEqual(unsealEvent(sealed, keys.reader), { kind: 'open', event });
    }
  });

  it("make a forgotten user's ratings decide nothing, and leave everyone else's", () => {
    const keys = new Keys();
    const [alices, bobs] = [rating('alice'), rating('bob')].map((e) => sealEvent(e, keys.keyFor));
    const alicesWithdrawal = sealEvent(withdrawal('alice'), keys.keyFor);
    keys.forget('alice');
    assert.deepEqual(unsealEvent(alices!, keys.reader), { kind: 'forgotten' });
    assert.deepEqual(unsealEvent(alicesWithdrawal, keys.reader), { kind: 'forgotten' });
    assert.equal(unsealEvent(bobs!, keys.reader).kind, 'open');
  });

  it('keep what a forgotten sender did that is not about them, under a principal no user can have', () => {
    const keys = new Keys();
    const set = metadata('admin-ada-7');
    const imported = rating('bob', 'provider-1');
    const [sealedSet, sealedImport] = [sealEvent(set, keys.keyFor), sealEvent(imported, keys.keyFor)];
    keys.forget('admin-ada-7');
    keys.forget('provider-1');
    const forgottenSender = (e: typeof set | typeof imported) => ({
      ...e,
      envelope: { ...e.envelope, principal: FORGOTTEN_PRINCIPAL },
    });
    assert.deepEqual(unsealEvent(sealedSet, keys.reader), { kind: 'open', event: forgottenSender(set) });
    assert.deepEqual(unsealEvent(sealedImport, keys.reader), { kind: 'open', event: forgottenSender(imported) });
    assert.ok(!USER_ID_PATTERN.test(FORGOTTEN_PRINCIPAL));
  });

  it('read events written in clear before sealing began, unless their subject is forgotten', () => {
    const keys = new Keys();
    const [alices, bobs, adas] = [rating('alice'), rating('bob'), metadata('admin-ada-7')];
    keys.forget('alice');
    keys.forget('admin-ada-7');
    assert.deepEqual(unsealEvent(alices, keys.reader), { kind: 'forgotten' });
    assert.deepEqual(unsealEvent(bobs, keys.reader), { kind: 'open', event: bobs });
    assert.deepEqual(unsealEvent(adas, keys.reader), {
      kind: 'open',
      event: { ...adas, envelope: { ...adas.envelope, principal: FORGOTTEN_PRINCIPAL } },
    });
  });

  it('do not open when moved into another event', () => {
    const keys = new Keys();
    const [first, second] = [rating('alice'), rating('alice')].map((e) => sealEvent(e, keys.keyFor)) as [
      Extract<SealedEvent, { type: 'RatingSubmitted' }>,
      Extract<SealedEvent, { type: 'RatingSubmitted' }>,
    ];
    assert.deepEqual(unsealEvent({ ...second, userId: first.userId }, keys.reader), { kind: 'forgotten' });
  });

  it("name each subject once: a user's own rating has one, a provider's import two", () => {
    assert.deepEqual(subjectsOf(rating('alice')), ['alice']);
    assert.deepEqual(subjectsOf(rating('bob', 'provider-1')), ['provider-1', 'bob']);
    assert.deepEqual(subjectsOf(metadata('admin-ada-7')), ['admin-ada-7']);
  });
});
