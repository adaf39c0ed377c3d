import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newEventId } from '../../shared/events/event-id.ts';
import { isEventId } from '../../shared/events/validation.ts';

describe('newEventId', () => {
  it('mints lowercase UUIDs of version 7 that carry their time and sort by it', () => {
    const at = Date.UTC(2026, 11, 1, 12, 0, 0, 345);
    const [first, second, later] = [newEventId(at), newEventId(at), newEventId(at + 1)];
    for (const id of [first, second, later]) {
      assert.ok(isEventId(id), id);
      assert.equal(id[14], '7');
      assert.ok('89ab'.includes(id[19]!), id);
      assert.equal(parseInt(id.replaceAll('-', '').slice(0, 12), 16), id === later ? at + 1 : at);
    }
    assert.notEqual(first, second);
    assert.ok(first < later && second < later);
  });
});
