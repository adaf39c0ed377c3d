import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ifNoneMatchHits } from '../../shared/http/etag.ts';

describe('ifNoneMatchHits', () => {
  it('matches any listed tag under weak comparison, and *', () => {
    assert.equal(ifNoneMatchHits(undefined, '"a"'), false);
    assert.equal(ifNoneMatchHits('"a"', '"a"'), true);
    assert.equal(ifNoneMatchHits('W/"a"', '"a"'), true);
    assert.equal(ifNoneMatchHits('"b", W/"a"', '"a"'), true);
    assert.equal(ifNoneMatchHits('"b"', '"a"'), false);
    assert.equal(ifNoneMatchHits(' * ', '"a"'), true);
  });
});
