import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { services, uniqueName } from '../../harness/services.ts';

/**
 * The registry as the launcher configures it refuses a schema change that would leave older
 * events unreadable (BACKWARD_TRANSITIVE), and accepts one that adds a field with a default.
 */
describe('schema registry compatibility', () => {
  const base = services.registryUrl.replace(/\/$/, '');
  const subject = uniqueName('test-compat');
  const register = (fields: object[]) =>
    fetch(`${base}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify({ type: 'record', name: 'Probe', namespace: 'test', fields }) }),
    });

  after(async () => {
    await fetch(`${base}/subjects/${subject}`, { method: 'DELETE' });
    await fetch(`${base}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
  });

  it('accepts an added field with a default and refuses one without', async () => {
    const v1 = [{ name: 'a', type: 'int' }];
    assert.equal((await register(v1)).status, 200);
    assert.equal((await register([...v1, { name: 'b', type: 'string', default: '' }])).status, 200);
    assert.equal((await register([...v1, { name: 'c', type: 'string' }])).status, 409);
  });
});
