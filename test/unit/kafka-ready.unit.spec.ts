import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { offsetsPartitionOf, probeGroupIds } from '../../infra/kafka-ready.ts';

describe('offsetsPartitionOf', () => {
  it("places a group as Kafka does, by Java's String.hashCode", () => {
    // Java: "hello".hashCode() is 99162322; "polygenelubricants".hashCode() is Integer.MIN_VALUE.
    assert.equal(offsetsPartitionOf('hello', 6), 99162322 % 6);
    assert.equal(offsetsPartitionOf('polygenelubricants', 6), 0);
    assert.equal(offsetsPartitionOf('', 50), 0);
  });
  it('probe ids cover every partition once', () => {
    const ids = probeGroupIds(6);
    assert.deepEqual(ids.map((id) => offsetsPartitionOf(id, 6)).sort(), [0, 1, 2, 3, 4, 5]);
  });
});
