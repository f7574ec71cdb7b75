// `npm run token -- --realm sports --user alice [--role user|realm-admin|platform-admin]`
import '@realms/platform/telemetry';
import { parseArgs } from 'node:util';
import {
  ensureDevKeys,
  isRole,
  issueDevToken,
  loadCatalog,
  ROLES,
} from '@realms/platform';

const { values } = parseArgs({
  options: {
    realm: { type: 'string' },
    user: { type: 'string' },
    role: { type: 'string', multiple: true },
    expires: { type: 'string', default: '12h' },
  },
});

const catalog = await loadCatalog();
const realm = values.realm ? catalog.realm(values.realm) : undefined;
const roles = values.role ?? ['user'];
if (!realm || !values.user || !roles.every(isRole)) {
  console.error(
    'Usage: npm run token -- --realm <' +
      catalog.realmIds.join('|') +
      '> --user <id> [--role <' +
      ROLES.join('|') +
      '>]... [--expires 12h]',
  );
  process.exit(2);
}

await ensureDevKeys(catalog.realms.values());
console.log(
  await issueDevToken({
    realm,
    userId: values.user,
    roles,
    expiresIn: values.expires,
  }),
);
