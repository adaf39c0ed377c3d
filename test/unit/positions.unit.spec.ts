import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeConsistencyToken, encodeConsistencyToken } from '../../shared/events/position.ts';
import { parseProgressAnnouncement } from '../../shared/read-models.ts';

describe('consistency token', () => {
  it('round-trips a position', () => {
    const position = { topic: 'movie-ratings', partition: 5, offset: 1234567 };
    assert.deepEqual(decodeConsistencyToken(encodeConsistencyToken([position])), [position]);
  });
  it('keeps the highest offset of each partition a bulk command wrote', () => {
    const at = (partition: number, offset: number) => ({ topic: 'movie-ratings', partition, offset });
    assert.deepEqual(decodeConsistencyToken(encodeConsistencyToken([at(1, 7), at(2, 3), at(1, 9), at(1, 8)])), [
      at(1, 9),
      at(2, 3),
    ]);
  });
  it('rejects what it did not issue', () => {
    assert.equal(decodeConsistencyToken('not-a-token'), undefined);
    assert.equal(decodeConsistencyToken(Buffer.from('t:x:1').toString('base64url')), undefined);
  });
});

describe('progress announcement', () => {
  const valid = {
    schema: 'ratings',
    table: '16384',
    topic: 'movie-ratings',
    offsets: [
      [0, 12],
      [3, 0],
    ],
  };
  it('reads what a projector sends', () => {
    assert.deepEqual(parseProgressAnnouncement(JSON.stringify(valid)), valid);
  });
  it('reads nothing from an empty payload or one of another shape, so that the reader reads the offsets itself', () => {
    for (const payload of [
      '',
      'not json',
      'null',
      '[]',
      JSON.stringify({ ...valid, table: undefined }),
      JSON.stringify({ ...valid, schema: 7 }),
      JSON.stringify({ ...valid, offsets: {} }),
      JSON.stringify({ ...valid, offsets: [[0]] }),
      JSON.stringify({ ...valid, offsets: [[0, -1]] }),
      JSON.stringify({ ...valid, offsets: [[0, 1.5]] }),
      JSON.stringify({ ...valid, offsets: [[0, '12']] }),
    ]) {
      assert.equal(parseProgressAnnouncement(payload), undefined, payload);
    }
  });
});
