import { describe, expect, it } from 'vitest';
import {
  buildCatalog,
  PreferenceSchemaError,
} from '../../src/realm-config/catalog.js';
import { realSources, sourcesOf } from '../fixtures.js';

/** The problems of the real schema files with sports' `auth` extended. */
function authProblems(extra: Record<string, unknown>) {
  const sources = realSources();
  const sports = sources.realms[0] as { auth: Record<string, unknown> };
  sports.auth = { ...sports.auth, ...extra };
  try {
    buildCatalog(sourcesOf(sources));
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(PreferenceSchemaError);
    return (error as PreferenceSchemaError).problems;
  }
}

describe('the auth object of a realm file', () => {
  it.each([
    { jwksUrl: 'https://idp.example.com/.well-known/jwks.json' },
    { jwksUrl: 'http://127.0.0.1:8080/jwks.json' },
    { jwksUrl: 'http://localhost/jwks.json' },
    { jwksFile: 'sports.jwks.json' },
    { jwksFile: 'idp/sports-keys.json' },
    { clockToleranceSeconds: 0 },
    { clockToleranceSeconds: 30 },
  ])('accepts %o', (extra) => {
    expect(authProblems(extra)).toEqual([]);
  });

  it.each([
    { jwksUrl: 'http://idp.example.com/jwks.json' },
    { jwksUrl: 'http://127.0.0.1.example.com/jwks.json' },
    { jwksUrl: 'ftp://idp.example.com/jwks.json' },
    { jwksUrl: 'not a url' },
    { jwksFile: '../elsewhere.json' },
    { jwksFile: '/etc/keys.json' },
    { jwksFile: 'sports.jwks.json', jwksUrl: 'https://idp.example.com/j' },
    { clockToleranceSeconds: -1 },
    { clockToleranceSeconds: 1.5 },
    { clockToleranceSeconds: 3600 },
    { jwks: 'unknown member' },
  ])('refuses %o, naming the realm file', (extra) => {
    const problems = authProblems(extra);
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) {
      expect(problem.file).toBe('schema/realms/sports.json');
      expect(problem.field).toMatch(/^\/auth/);
    }
  });
});
