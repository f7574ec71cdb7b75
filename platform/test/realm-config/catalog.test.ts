import { describe, expect, it } from 'vitest';
import {
  buildCatalog,
  PreferenceSchemaError,
} from '../../src/realm-config/catalog.js';
import { loadCatalog } from '../../src/realm-config/load.js';
import { realCatalog, realSources, sourcesOf } from '../fixtures.js';

function problemsOf(mutate: (s: ReturnType<typeof realSources>) => void) {
  const sources = realSources();
  mutate(sources);
  try {
    buildCatalog(sourcesOf(sources));
  } catch (error) {
    expect(error).toBeInstanceOf(PreferenceSchemaError);
    return (error as PreferenceSchemaError).problems;
  }
  throw new Error('expected the catalog to be refused');
}

const sportsOf = (s: ReturnType<typeof realSources>) =>
  s.realms[0] as Record<string, Record<string, unknown>>;

describe('the preference catalog', () => {
  it('loads the committed schema files', async () => {
    const catalog = await loadCatalog();
    expect(catalog.realmIds.sort()).toEqual([
      'entertainment',
      'parks',
      'sports',
    ]);
    expect(catalog.realmForHost('sports.localhost')?.id).toBe('sports');
    expect(catalog.realmForHost('nope.localhost')).toBeUndefined();
  });

  it('keeps global rules and defaults for keys a realm does not override', () => {
    const locale = realCatalog().realm('sports')?.definitions.get('locale');
    expect(locale?.defaultValue).toBe('en-US');
    expect(locale?.defaultSource).toBe('GLOBAL_DEFAULT');
    expect(locale?.check('fr-CA')).toEqual([]);
    expect(locale?.check('not a tag')[0]?.rule).toBe('format');
  });

  it('applies a realm default and a tightened enum', () => {
    const sports = realCatalog().realm('sports');
    const theme = sports?.definitions.get('theme');
    expect(theme?.defaultValue).toBe('dark');
    expect(theme?.defaultSource).toBe('REALM_DEFAULT');
    const channels = sports?.definitions.get('notifications.channels');
    expect(channels?.check(['sms'])[0]?.rule).toBe('enum');
    const globalChannels = realCatalog().globalDefinitions.get(
      'notifications.channels',
    );
    expect(globalChannels?.check(['sms'])).toEqual([]);
  });

  it('marks locked keys and realm keys with their owner', () => {
    const entertainment = realCatalog().realm('entertainment');
    expect(entertainment?.definitions.get('notifications.digest')?.locked).toBe(
      true,
    );
    expect(
      entertainment?.definitions.get('entertainment.subtitles')?.owner,
    ).toBeNull();
    expect(entertainment?.definitions.get('entertainment.genres')?.owner).toBe(
      'entertainment',
    );
  });

  it('merges the realm theme over the base theme', () => {
    const theme = realCatalog().realm('parks')?.theme;
    expect(theme?.colors['primary']).toBe('#00695C');
    expect(theme?.colors['text']).toBe('#14171A');
    expect(theme?.typography['headingFontFamily']).toContain('Fredoka');
  });

  it('refuses an override that widens an enum, naming file, field and rule', () => {
    const problems = problemsOf((s) => {
      sportsOf(s)['overrides'] = {
        theme: { enum: ['light', 'dark', 'sepia'] },
      };
    });
    expect(problems).toEqual([
      expect.objectContaining({
        file: 'schema/realms/sports.json',
        field: 'theme',
        rule: 'enum',
      }),
    ]);
    expect(problems[0]?.message).toContain('"sepia"');
  });

  it('refuses loosened bounds, lengths and sizes', () => {
    const problems = problemsOf((s) => {
      sportsOf(s)['overrides'] = {
        'notifications.channels': { maxItems: 9 },
        displayName: { maxLength: 500, minLength: 0 },
      };
    });
    expect(problems.map((p) => `${p.field}:${p.rule}`).sort()).toEqual([
      'displayName:maxLength',
      'displayName:minLength',
      'notifications.channels:maxItems',
    ]);
  });

  it('refuses overriding a type or a rule it cannot tighten', () => {
    const problems = problemsOf((s) => {
      sportsOf(s)['overrides'] = { theme: { type: 'number' } };
    });
    expect(problems[0]).toMatchObject({ field: 'theme', rule: 'type' });
  });

  it('refuses a realm default that its own rules reject', () => {
    const problems = problemsOf((s) => {
      sportsOf(s)['overrides'] = {
        theme: { enum: ['dark'], default: 'light' },
      };
    });
    expect(problems[0]).toMatchObject({ field: 'theme', rule: 'default.enum' });
  });

  it('refuses locking or overriding a field that does not exist', () => {
    const problems = problemsOf((s) => {
      sportsOf(s)['locked'] = ['nope'] as unknown as Record<string, unknown>;
      sportsOf(s)['overrides'] = { missing: { default: 1 } };
    });
    expect(problems.map((p) => `${p.field}:${p.rule}`).sort()).toEqual([
      'missing:overrides',
      'nope:locked',
    ]);
  });

  it('refuses an unknown JSON Schema keyword in a realm field', () => {
    const problems = problemsOf((s) => {
      sportsOf(s)['fields'] = {
        odd: { type: 'string', default: 'x', maxLenght: 3 },
      };
    });
    expect(problems[0]).toMatchObject({ field: 'sports.odd', rule: 'schema' });
  });

  it('refuses a domain that two realms claim', () => {
    const problems = problemsOf((s) => {
      (s.realms[2] as Record<string, unknown>)['domains'] = [
        'sports.localhost',
      ];
    });
    expect(problems[0]).toMatchObject({
      file: 'schema/realms/parks.json',
      rule: 'domains',
    });
  });
});
