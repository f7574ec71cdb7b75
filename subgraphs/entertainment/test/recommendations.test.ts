import { describe, expect, it } from 'vitest';
import { isLanguageTag } from '@realms/platform';
import { GENRES } from '../src/enums.js';
import { recommendTitles } from '../src/recommendations.js';
import {
  MATURITY_RATINGS,
  TITLE_CATALOGUE,
  type Title,
} from '../src/title-catalogue.js';

const title = (overrides: Partial<Title> & { id: string }): Title => ({
  title: overrides.id,
  genres: ['drama'],
  maturityRating: 'G',
  audioLanguages: ['en'],
  year: 2020,
  ...overrides,
});

describe('recommendTitles', () => {
  const catalogue = [
    title({ id: 'old-match', genres: ['drama', 'comedy'], year: 2001 }),
    title({ id: 'new-match', genres: ['comedy'], year: 2024 }),
    title({ id: 'no-match', genres: ['horror'], year: 2025 }),
    title({
      id: 'too-mature',
      genres: ['drama', 'comedy'],
      maturityRating: 'R',
    }),
    title({
      id: 'german-only',
      genres: ['drama', 'comedy'],
      audioLanguages: ['de'],
    }),
  ];
  const viewer = {
    genres: ['drama', 'comedy'],
    maturityRating: 'PG-13',
    languages: ['en-US'],
  };

  it('ranks by shared genres, then year, and keeps unmatched titles last', () => {
    expect(recommendTitles(catalogue, viewer, 10).map((r) => r.id)).toEqual([
      'old-match',
      'new-match',
      'no-match',
    ]);
  });

  it('stops at the limit', () => {
    expect(recommendTitles(catalogue, viewer, 1)).toHaveLength(1);
  });

  it('recommends nothing for an unknown maturity rating', () => {
    expect(
      recommendTitles(catalogue, { ...viewer, maturityRating: 'NC-17' }, 10),
    ).toEqual([]);
  });
});

describe('TITLE_CATALOGUE', () => {
  const genres = new Set<string>(Object.values(GENRES));

  it.each(TITLE_CATALOGUE.map((t) => [t.id, t] as const))(
    '%s uses only known genres, ratings and language tags',
    (_, entry) => {
      expect(entry.genres.every((g) => genres.has(g))).toBe(true);
      expect(MATURITY_RATINGS).toContain(entry.maturityRating);
      expect(entry.audioLanguages.every(isLanguageTag)).toBe(true);
    },
  );

  it('has unique ids', () => {
    const ids = TITLE_CATALOGUE.map((t) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
