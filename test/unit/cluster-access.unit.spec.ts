import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aclEntries, grantsFor, type Grant } from '../../infra/cluster/access.ts';

const topics = {
  sources: ['movie-metadata', 'movie-ratings'],
  deadLetters: ['movie-metadata.dlq', 'movie-ratings.dlq'],
  projectorGroup: 'movie-catalogue-projectors',
};
const grants = grantsFor(topics);
const who = (can: (g: Grant) => boolean) => [...new Set(grants.filter(can).map((g) => g.user))].sort();

describe('cluster access', () => {
  it('lets only the command API and a redrive append to the source topics', () => {
    assert.deepEqual(
      who((g) => g.resource === 'topic' && topics.sources.includes(g.name) && g.operations.includes('WRITE')),
      ['command-api', 'dlq'],
    );
  });

  it('lets the projectors and a rebuild write dead letters, and only the dead-letter tool read them', () => {
    assert.deepEqual(
      who((g) => topics.deadLetters.includes(g.name) && g.operations.includes('WRITE')),
      ['projectors', 'replay'],
    );
    assert.deepEqual(
      who((g) => topics.deadLetters.includes(g.name) && g.operations.includes('READ')),
      ['dlq'],
    );
  });

  it('gives each reader its own groups, and the query API nothing at all', () => {
    assert.deepEqual(
      grants
        .filter((g) => g.resource === 'group')
        .map(({ user, name, prefixed, operations }) => ({ user, name, prefixed, operations })),
      [
        { user: 'projectors', name: 'movie-catalogue-projectors', prefixed: false, operations: ['READ'] },
        { user: 'replay', name: 'movie-catalogue-rebuild-', prefixed: true, operations: ['READ'] },
        { user: 'dlq', name: 'movie-catalogue-dlq-', prefixed: true, operations: ['READ', 'DELETE'] },
      ],
    );
    assert.deepEqual(
      who((g) => g.user === 'query-api'),
      [],
    );
  });

  it('becomes one allow entry per operation', () => {
    const entries = aclEntries([
      { user: 'dlq', resource: 'group', name: 'movie-catalogue-dlq-', prefixed: true, operations: ['READ', 'DELETE'] },
    ]);
    // kafkajs's enums: GROUP 3, PREFIXED 4, READ 3, DELETE 6, ALLOW 3.
    assert.deepEqual(entries, [
      {
        resourceType: 3,
        resourceName: 'movie-catalogue-dlq-',
        resourcePatternType: 4,
        principal: 'User:dlq',
        host: '*',
        operation: 3,
        permissionType: 3,
      },
      {
        resourceType: 3,
        resourceName: 'movie-catalogue-dlq-',
        resourcePatternType: 4,
        principal: 'User:dlq',
        host: '*',
        operation: 6,
        permissionType: 3,
      },
    ]);
  });
});
