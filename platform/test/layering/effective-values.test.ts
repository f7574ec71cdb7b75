import { describe, expect, it } from 'vitest';
import {
  effectiveValues,
  resolveValue,
} from '../../src/layering/effective-values.js';
import { realCatalog, stored } from '../fixtures.js';

const catalog = realCatalog();
const definition = (realm: string, key: string) => {
  const found = catalog.realm(realm)?.definitions.get(key);
  if (!found) throw new Error(`no ${key} in ${realm}`);
  return found;
};

describe('layering of effective values', () => {
  it('falls back to the global default', () => {
    const value = resolveValue(
      definition('sports', 'locale'),
      stored('sports'),
    );
    expect(value).toMatchObject({ value: 'en-US', source: 'GLOBAL_DEFAULT' });
  });

  it('uses the realm default where the realm overrides it', () => {
    const value = resolveValue(definition('sports', 'theme'), stored('sports'));
    expect(value).toMatchObject({ value: 'dark', source: 'REALM_DEFAULT' });
  });

  it("lets a user's global value follow them into every realm", () => {
    for (const realm of ['sports', 'parks', 'entertainment']) {
      const value = resolveValue(
        definition(realm, 'locale'),
        stored(realm, {}, { locale: 'fr-FR' }),
      );
      expect(value).toMatchObject({ value: 'fr-FR', source: 'USER_GLOBAL' });
    }
  });

  it('prefers a realm-specific value over the global one', () => {
    const value = resolveValue(
      definition('parks', 'locale'),
      stored('parks', { locale: 'es-MX' }, { locale: 'fr-FR' }),
    );
    expect(value).toMatchObject({ value: 'es-MX', source: 'USER_REALM' });
  });

  it('ignores user values of a locked key', () => {
    const value = resolveValue(
      definition('entertainment', 'notifications.digest'),
      stored(
        'entertainment',
        { 'notifications.digest': 'off' },
        { 'notifications.digest': 'daily' },
      ),
    );
    expect(value).toMatchObject({ value: 'weekly', source: 'REALM_DEFAULT' });
  });

  it('skips a global value that the realm has tightened away', () => {
    const value = resolveValue(
      definition('sports', 'notifications.channels'),
      stored('sports', {}, { 'notifications.channels': ['sms'] }),
    );
    expect(value).toMatchObject({
      value: ['push', 'in-app'],
      source: 'REALM_DEFAULT',
    });
    const elsewhere = resolveValue(
      definition('parks', 'notifications.channels'),
      stored('parks', {}, { 'notifications.channels': ['sms'] }),
    );
    expect(elsewhere).toMatchObject({ value: ['sms'], source: 'USER_GLOBAL' });
  });

  it('keeps realm keys in their realm', () => {
    const realm = catalog.realm('parks');
    if (!realm) throw new Error('no parks');
    const keys = effectiveValues(realm, stored('parks')).map((v) => v.key);
    expect(keys).toContain('parks.partySize');
    expect(keys.some((k) => k.startsWith('sports.'))).toBe(false);
  });

  it('reports a source for every value', () => {
    const realm = catalog.realm('sports');
    if (!realm) throw new Error('no sports');
    const values = effectiveValues(
      realm,
      stored(
        'sports',
        { 'sports.favoriteTeams': ['a-team'] },
        { timeZone: 'Europe/Paris' },
      ),
    );
    const sources = Object.fromEntries(values.map((v) => [v.key, v.source]));
    expect(sources).toMatchObject({
      locale: 'GLOBAL_DEFAULT',
      theme: 'REALM_DEFAULT',
      timeZone: 'USER_GLOBAL',
      'sports.favoriteTeams': 'USER_REALM',
    });
  });
});
