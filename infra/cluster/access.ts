import kafkajs, { type AclEntry } from 'kafkajs';
import { DEFAULTS } from '../../shared/defaults.ts';

// kafkajs is CommonJS, and Node finds no named export for its ACL enums.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

/** The Kafka users of the secured cluster: one per service or tool, and the launcher's own. */
export const SERVICE_USERS = ['command-api', 'projectors', 'replay', 'dlq', 'query-api'] as const;
export type ServiceUser = (typeof SERVICE_USERS)[number];
/** The launcher's super user: creates topics and ACLs, and is what tests and benches set up with. */
export const ADMIN_USER = 'admin';

export interface ClusterTopics {
  sources: string[];
  deadLetters: string[];
  projectorGroup: string;
}

type Operation = 'READ' | 'WRITE' | 'DESCRIBE' | 'DELETE';

/** What one user may do to one resource: a topic, or a consumer group by its exact name or a prefix. */
export interface Grant {
  user: ServiceUser;
  resource: 'topic' | 'group';
  name: string;
  prefixed: boolean;
  operations: Operation[];
}

/**
 * Each service may do what it does and nothing more. The command API appends to the source
 * topics. The projectors read them in their group and write dead letters. A rebuild reads them in
 * groups of its own and writes the dead letters only it found. The dead-letter tool reads both
 * kinds of topic in throwaway groups (which it deletes) and appends a redrive's copies to the
 * source topics. The query API reads Postgres only: its user may do nothing.
 */
export function grantsFor({ sources, deadLetters, projectorGroup }: ClusterTopics): Grant[] {
  const topics = (user: ServiceUser, names: string[], operations: Operation[]): Grant[] =>
    names.map((name) => ({ user, resource: 'topic', name, prefixed: false, operations }));
  const group = (user: ServiceUser, name: string, prefixed: boolean, operations: Operation[]): Grant => ({
    user,
    resource: 'group',
    name,
    prefixed,
    operations,
  });
  return [
    ...topics('command-api', sources, ['WRITE', 'DESCRIBE']),
    ...topics('projectors', sources, ['READ', 'DESCRIBE']),
    ...topics('projectors', deadLetters, ['WRITE', 'DESCRIBE']),
    group('projectors', projectorGroup, false, ['READ']),
    ...topics('replay', sources, ['READ', 'DESCRIBE']),
    ...topics('replay', deadLetters, ['WRITE', 'DESCRIBE']),
    group('replay', DEFAULTS.REBUILD_GROUP_PREFIX, true, ['READ']),
    ...topics('dlq', deadLetters, ['READ', 'DESCRIBE']),
    ...topics('dlq', sources, ['READ', 'WRITE', 'DESCRIBE']),
    group('dlq', DEFAULTS.DLQ_READER_GROUP_PREFIX, true, ['READ', 'DELETE']),
  ];
}

/** The grants as kafkajs's ACL entries: one allow per operation, from any host. */
export function aclEntries(grants: Grant[]): AclEntry[] {
  return grants.flatMap((grant) =>
    grant.operations.map((operation) => ({
      resourceType: grant.resource === 'topic' ? AclResourceTypes.TOPIC : AclResourceTypes.GROUP,
      resourceName: grant.name,
      resourcePatternType: grant.prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
      principal: `User:${grant.user}`,
      host: '*',
      operation: AclOperationTypes[operation],
      permissionType: AclPermissionTypes.ALLOW,
    })),
  );
}
